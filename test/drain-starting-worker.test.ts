import t from "tap";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast, waitFor } from "./helpers/quotecast.js";

// A worker that is still starting when the server is told to stop (the primary restarting a
// worker that died, then a deploy's SIGTERM) cannot take the drain message yet. It must drain
// once it serves, not hold the exit until the primary kills it drain-ms + 5 s later.

let nats: NatsServer;
t.before(async () => {
  nats = await startNatsServer();
});
t.teardown(() => nats.stop());

t.test("drain - SIGTERM while a restarted worker is still starting: exit 0 once it serves, not after drain-ms + 5 s", async (t) => {
  const drainMs = 8000;
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "1", "--drain-ms", String(drainMs)] });
  t.teardown(() => qc.kill());
  await waitFor(() => qc.logged("worker serving") >= 1, 15_000, "the first worker serving");
  const [victim] = qc.workerPids();
  process.kill(victim!, "SIGKILL");
  // The primary restarts it at once (a first death has no back-off): stop as soon as it is forked.
  await waitFor(() => qc.logged("worker started") >= 2, 10_000, "the worker restarted");
  const servingAtSignal = qc.logged("worker serving");
  const t0 = Date.now();
  qc.child.kill("SIGTERM");
  const code = await qc.exited;
  const ms = Date.now() - t0;
  t.equal(servingAtSignal, 1, "the signal came while the new worker was still starting");
  t.equal(code, 0, "exit 0");
  t.equal(qc.logged("worker serving"), 2, "the new worker served, then drained");
  t.match(qc.output(), /"msg":"drain complete"/);
  // Without the fix: drain-ms + 5 s = 13 s, the primary's kill. With it: the new worker's start
  // (about 2 s here) and a drain with no connections.
  t.ok(ms < drainMs, `exited ${ms} ms after SIGTERM`);
});
