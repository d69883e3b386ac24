import t from "tap";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast, waitFor } from "./helpers/quotecast.js";

let nats: NatsServer;
t.before(async () => {
  nats = await startNatsServer();
});
t.teardown(async () => {
  await nats?.cleanup();
});

interface ExitLog {
  level: number;
  msg: string;
  restartInMs: number;
  recentExits: number;
}

t.test("cluster - a worker that keeps dying is restarted with doubling backoff, and the crash loop is logged as an error", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "1"] });
  t.teardown(() => qc.stop());
  const KILLS = 7;
  const restartedAfterMs: number[] = [];
  for (let i = 0; i < KILLS; i++) {
    const [victim] = qc.workerPids();
    const killedAt = Date.now();
    process.kill(victim!, "SIGKILL");
    // A replacement process appears once its delay is over (forked at once after it).
    // One read of the process list: two could see the victim, then nothing once it is reaped.
    await waitFor(() => {
      const pids = qc.workerPids();
      return pids.length === 1 && pids[0] !== victim;
    }, 15_000, `replacement ${i + 1}`);
    restartedAfterMs.push(Date.now() - killedAt);
    // Let the replacement get far enough to be killed as a worker, not while it is being forked.
    await waitFor(async () => (await fetch(`${qc.base}/healthz`)).status === 200, 15_000, `replacement ${i + 1} serving`);
  }
  const exits = qc
    .output()
    .split("\n")
    .filter((l) => l.includes('"restartInMs"'))
    .map((l) => JSON.parse(l) as ExitLog);
  t.equal(exits.length, KILLS, "every death is logged");
  // RestartPolicy's defaults: at once, then 100 ms doubling, within a 60 s window; more than 5 is a loop.
  t.same(exits.map((e) => e.restartInMs), [0, 100, 200, 400, 800, 1600, 3200]);
  t.same(exits.map((e) => e.recentExits), [1, 2, 3, 4, 5, 6, 7]);
  t.same(exits.map((e) => e.msg), [...Array(5).fill("worker died; restarting"), ...Array(2).fill("worker keeps dying; restarting with backoff")]);
  t.same(exits.map((e) => e.level), [40, 40, 40, 40, 40, 50, 50], "warn, then error once it is a crash loop");
  restartedAfterMs.forEach((ms, i) => t.ok(ms >= exits[i]!.restartInMs, `replacement ${i + 1} after ${ms} ms, not before its ${exits[i]!.restartInMs} ms delay`));
});
