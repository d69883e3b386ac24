import t from "tap";
import { CatchUpProgress, STALLED_CHECKS } from "../src/ingest/catch-up-progress.js";

t.test("catch-up-progress - ends on the message that reaches the leader's end, whatever its pending says", async (t) => {
  const p = new CatchUpProgress(100, 140);
  t.equal(p.complete, false);
  p.delivered(139);
  t.equal(p.complete, false);
  p.delivered(140);
  t.equal(p.complete, true, "at the stream's last sequence from before the read, without a pending 0");
  t.equal(p.check({ pending: 7, delivered: 147 }), "done", "newer messages still pending do not hold it (the live feed has them)");
});

t.test("catch-up-progress - nothing to read: complete at once", async (t) => {
  t.equal(new CatchUpProgress(0, 0).complete, true, "an empty stream");
  t.equal(new CatchUpProgress(140, 140).complete, true, "nothing published during the outage");
});

t.test("catch-up-progress - the consumer sent everything but the last message never reached the callback: read again, no later than the second check", async (t) => {
  // Issue 17, item 2: num_pending 0, delivered up to the end, and the message carrying pending 0
  // never seen; with no further quote published the read used to stay open for good.
  const p = new CatchUpProgress(100, 140);
  p.delivered(139);
  t.equal(p.check({ pending: 0, delivered: 140 }), "reading", "first check: it may still be on its way");
  t.equal(p.check({ pending: 0, delivered: 140 }), "read-again", "second check without progress");
});

t.test("catch-up-progress - a replica behind its leader says nothing is pending early: read again", async (t) => {
  const p = new CatchUpProgress(0, 50);
  p.delivered(45);
  t.equal(p.check({ pending: 0, delivered: 45 }), "reading");
  t.equal(p.check({ pending: 0, delivered: 45 }), "read-again");
});

t.test("catch-up-progress - progress between checks keeps it reading", async (t) => {
  const p = new CatchUpProgress(0, 1000);
  for (let seq = 100; seq < 1000; seq += 100) {
    p.delivered(seq);
    t.equal(p.check({ pending: 0, delivered: seq + 50 }), "reading", `read to ${seq}`);
  }
  p.delivered(1000);
  t.equal(p.check({ pending: 0, delivered: 1000 }), "done");
});

t.test("catch-up-progress - a consumer that says it has more but sends nothing is given up on after STALLED_CHECKS", async (t) => {
  const p = new CatchUpProgress(0, 1000);
  p.delivered(10);
  const verdicts = Array.from({ length: STALLED_CHECKS + 1 }, () => p.check({ pending: 990, delivered: 10 }));
  t.same(verdicts.slice(0, STALLED_CHECKS), Array(STALLED_CHECKS).fill("reading"));
  t.equal(verdicts.at(-1), "read-again");
});
