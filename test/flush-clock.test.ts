import t from "tap";
import { setTimeout as sleep } from "node:timers/promises";
import { FlushClock } from "../src/fanout/flush-clock.js";

const PERIOD_MS = 20;

t.test("flush-clock - ticks are never closer than the period by performance.now()", async (t) => {
  const ticks: number[] = [];
  const clock = new FlushClock(PERIOD_MS, (now) => ticks.push(now));
  const started = performance.now();
  clock.start();
  await sleep(600);
  clock.stop();
  const stopped = performance.now();

  const gaps = ticks.slice(1).map((tick, i) => tick - ticks[i]!);
  const tooClose = gaps.filter((g) => g < PERIOD_MS);
  t.same(tooClose, [], `every gap >= ${PERIOD_MS} ms (smallest ${Math.min(...gaps).toFixed(3)} ms)`);
  t.ok(ticks.length >= 15, `${ticks.length} ticks in ~600 ms`);
  t.ok(ticks.length <= Math.floor((stopped - started) / PERIOD_MS) + 1, "no more ticks than the period allows");
  t.ok(ticks[0]! >= started && ticks.at(-1)! <= stopped, "tick times are performance.now() readings");
});

t.test("flush-clock - stop() stops ticking", async (t) => {
  let ticks = 0;
  const clock = new FlushClock(PERIOD_MS, () => ticks++);
  clock.start();
  await sleep(100);
  clock.stop();
  const atStop = ticks;
  t.ok(atStop >= 2, `ticked ${atStop} times before stop`);
  await sleep(100);
  t.equal(ticks, atStop, "no tick after stop");
});

t.test("flush-clock - stop() from inside a tick stops ticking", async (t) => {
  let ticks = 0;
  const clock: FlushClock = new FlushClock(PERIOD_MS, () => {
    ticks++;
    clock.stop();
  });
  clock.start();
  await sleep(150);
  t.equal(ticks, 1);
});

t.test("flush-clock - start() twice keeps one timer, so one stop() ends it", async (t) => {
  let ticks = 0;
  const clock = new FlushClock(PERIOD_MS, () => ticks++);
  clock.start();
  clock.start();
  clock.stop();
  await sleep(100);
  t.equal(ticks, 0, "no orphaned timer left ticking");
});
