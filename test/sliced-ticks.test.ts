import t from "tap";
import { setImmediate as turn } from "node:timers/promises";
import { SlicedTicks } from "../src/fanout/sliced-ticks.js";

/** Records the calls the driver makes; `runTick` reports done after `slicesPerTick` slices. */
function recorder(slicesPerTick: number) {
  const calls: string[] = [];
  let left = 0;
  const fanout = {
    beginTick(now: number) {
      calls.push(`begin ${now}`);
      left = slicesPerTick;
    },
    runTick(maxFrames: number) {
      calls.push(`run ${maxFrames}`);
      return --left <= 0;
    },
  };
  return { calls, fanout };
}

t.test("sliced-ticks - a tick's slices run one per event-loop turn, with other work between them", async (t) => {
  const { calls, fanout } = recorder(3);
  const ticks = new SlicedTicks(fanout, 7);
  ticks.onTick(5);
  t.same(calls, ["begin 5", "run 7"], "the first slice runs at once");
  // Queued after the second slice: it runs before the third.
  setImmediate(() => calls.push("other"));
  await turn();
  await turn();
  await turn();
  t.same(calls, ["begin 5", "run 7", "run 7", "other", "run 7"], "the rest wait for their turn");
  ticks.onTick(60);
  t.same(calls.slice(5), ["begin 60", "run 7"], "the next window starts a new tick");
  ticks.stop();
});

t.test("sliced-ticks - a window that begins while a tick runs starts its tick when that one is done", async (t) => {
  const { calls, fanout } = recorder(2);
  const ticks = new SlicedTicks(fanout, 1);
  ticks.onTick(0);
  ticks.onTick(50);
  ticks.onTick(100);
  t.same(calls, ["begin 0", "run 1"], "no tick begins over a running one");
  await turn();
  t.equal(calls.length, 5, "one more tick began, at once, for the windows missed");
  t.match(calls[3], /^begin \d/);
  t.same(calls.slice(2), ["run 1", calls[3], "run 1"]);
  await turn();
  await turn();
  t.equal(calls.length, 6, "and it ran to its end; nothing further was due");
  ticks.stop();
});

t.test("sliced-ticks - stop cancels the slices still to come", async (t) => {
  const { calls, fanout } = recorder(5);
  const ticks = new SlicedTicks(fanout, 1);
  ticks.onTick(0);
  ticks.stop();
  await turn();
  await turn();
  t.same(calls, ["begin 0", "run 1"]);
});

t.test("sliced-ticks - a slice that throws does not stop the windows after it", async (t) => {
  const { calls, fanout } = recorder(1);
  const failing = {
    beginTick: fanout.beginTick,
    runTick(maxFrames: number): boolean {
      if (calls.length === 1) {
        calls.push("throw");
        throw new Error("a socket write threw");
      }
      return fanout.runTick(maxFrames);
    },
  };
  const ticks = new SlicedTicks(failing, 4);
  t.throws(() => ticks.onTick(0), /socket write threw/);
  ticks.onTick(50);
  t.same(calls, ["begin 0", "throw", "begin 50", "run 4"], "the next window begins its tick");
  ticks.stop();
});
