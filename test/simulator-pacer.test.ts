import t from "tap";
import { PACER_TICK_MS, Pacer } from "../src/simulator/pacer.js";
import { SeededRandom } from "../src/simulator/rng.js";

t.test("simulator - the pacer releases floor(elapsed * rate) minus what it already released", async (t) => {
  const p = new Pacer(1000, 100);
  t.equal(p.due(100), 0);
  t.equal(p.due(50), 0, "a clock before the start owes nothing");
  t.equal(p.due(105), 5);
  t.equal(p.due(105), 0, "asked twice at the same time, releases once");
  t.equal(p.due(110.5), 5);
  t.equal(p.due(110.9), 0);
  t.equal(p.due(111), 1);
  t.equal(p.sent, 11);
  t.equal(p.target(111), 11);
  t.equal(p.skipped, 0);
});

t.test("simulator - slow rates release whole quotes on schedule", async (t) => {
  const p = new Pacer(10, 0);
  t.equal(p.due(99), 0);
  t.equal(p.due(100), 1);
  t.equal(p.due(199.9), 0);
  t.equal(p.due(250), 1);
  const half = new Pacer(0.5, 0);
  t.equal(half.due(1999), 0);
  t.equal(half.due(2000), 1);
  t.equal(half.due(3999), 0);
  t.equal(half.due(4000), 1);
});

t.test("simulator - a late tick catches up in bursts of at most 100 ms of schedule", async (t) => {
  const p = new Pacer(1000, 0);
  t.equal(p.due(450), 100);
  t.equal(p.due(450), 100);
  t.equal(p.due(450), 100);
  t.equal(p.due(450), 100);
  t.equal(p.due(450), 50);
  t.equal(p.due(450), 0);
  t.equal(p.skipped, 0);
  const slow = new Pacer(10, 0);
  t.equal(slow.due(1000), 1, "at 10/s a burst is one quote");
  t.equal(slow.due(1000), 1);
});

t.test("simulator - more than a second behind, the oldest schedule is skipped", async (t) => {
  const p = new Pacer(1000, 0);
  t.equal(p.due(5000), 100);
  t.equal(p.skipped, 4000);
  t.equal(p.sent, 100);
  let more = 0;
  for (let i = 0; i < 20; i++) more += p.due(5000);
  t.equal(more, 900, "what is left of the one-second backlog is still sent");
  t.equal(p.sent + p.skipped, 5000);
});

t.test("simulator - a limited run stops exactly at its limit", async (t) => {
  const p = new Pacer(500, 0, { limit: 1000 });
  t.notOk(p.finished);
  let sent = 0;
  for (let now = 0; now <= 2100; now += PACER_TICK_MS) sent += p.due(now);
  t.equal(sent, 1000);
  t.equal(p.target(1e9), 1000);
  t.ok(p.finished);
  t.equal(p.due(1e9), 0);
  t.ok(new Pacer(1, 0, { limit: 0 }).finished, "a zero limit is finished at once");
});

t.test("simulator - with a jittery timer the achieved rate is exact from 10 to 100,000/s", async (t) => {
  const rng = new SeededRandom(5);
  for (const rate of [10, 1000, 100_000]) {
    const p = new Pacer(rate, 0);
    let sent = 0;
    let now = 0;
    // Timer fires every 5 ms, late by up to 20 ms, as an event loop under load does.
    while (now < 10_000) {
      now += PACER_TICK_MS + rng.float() * 20;
      sent += p.due(now);
    }
    // Whatever the jitter, after a tick the count is exactly the schedule's: no drift, no debt.
    t.equal(sent, Math.floor((rate * now) / 1000), `rate ${rate}`);
    t.equal(p.skipped, 0);
  }
});

t.test("simulator - the pacer refuses a rate it cannot honour", async (t) => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => new Pacer(bad, 0), RangeError, String(bad));
});
