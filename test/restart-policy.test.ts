import t from "tap";
import { RestartPolicy } from "../src/cluster/restart-policy.js";

t.test("restart-policy - defaults", async (t) => {
  const p = new RestartPolicy();
  t.equal(p.windowMs, 60_000);
  t.equal(p.baseDelayMs, 100);
  t.equal(p.maxDelayMs, 30_000);
  t.equal(p.loopThreshold, 5);
  t.equal(p.recentExits, 0);
  t.equal(p.crashLooping, false);
});

t.test("restart-policy - the first exit restarts at once", async (t) => {
  const p = new RestartPolicy();
  t.equal(p.onExit(1_000_000), 0);
  t.equal(p.recentExits, 1);
});

t.test("restart-policy - delays double while exits keep coming", async (t) => {
  const p = new RestartPolicy(60_000, 100, 30_000, 100);
  const delays = [0, 1, 2, 3, 4, 5, 6].map((i) => p.onExit(1000 + i * 10));
  t.same(delays, [0, 100, 200, 400, 800, 1600, 3200]);
  t.equal(p.recentExits, 7);
});

t.test("restart-policy - delay is capped at maxDelayMs", async (t) => {
  const p = new RestartPolicy(60_000, 100, 1000, 100);
  const delays = [0, 1, 2, 3, 4, 5, 6].map((i) => p.onExit(i));
  t.same(delays, [0, 100, 200, 400, 800, 1000, 1000]);
});

t.test("restart-policy - exits older than the window are forgotten", async (t) => {
  const p = new RestartPolicy(60_000, 100, 30_000, 5);
  t.equal(p.onExit(0), 0);
  t.equal(p.onExit(1_000), 100);
  t.equal(p.onExit(2_000), 200);
  t.equal(p.onExit(61_000), 200, "exactly windowMs after the exit at 1000: that one still counts");
  t.equal(p.recentExits, 3, "the exit at 0 has expired");
  t.equal(p.onExit(200_000), 0, "after a quiet window the next exit restarts at once again");
  t.equal(p.recentExits, 1);
});

t.test("restart-policy - more than loopThreshold exits in the window is a crash loop", async (t) => {
  const p = new RestartPolicy(60_000, 100, 30_000, 3);
  for (let i = 0; i < 3; i++) p.onExit(i * 1000);
  t.equal(p.crashLooping, false, "3 exits: at the threshold, not over it");
  p.onExit(3_000);
  t.equal(p.crashLooping, true, "4 exits");
  p.onExit(70_000);
  t.equal(p.recentExits, 1, "only the latest exit is inside the window");
  t.equal(p.crashLooping, false, "the loop is over once the window passes");
});
