import t from "tap";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { connectionsByPid, sleep, startQuotecast, waitFor } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

let nats: NatsServer;

t.before(async () => {
  nats = await startNatsServer();
});
t.teardown(async () => {
  await nats?.cleanup();
});

/** Open `n` subscriptions at once and wait until each has a status (or give up after `timeoutMs`). */
async function openMany(port: number, n: number, timeoutMs: number): Promise<RawSseClient[]> {
  const clients = Array.from({ length: n }, () => RawSseClient.open(port, "/quotes?symbols=STALL"));
  await Promise.all(clients.map((c) => c.waitFor(() => c.status !== 0 || c.closed, timeoutMs, "a response")));
  return clients;
}

t.test("admission - with the primary stopped, each worker admits its share of the per-address cap, never everything", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--max-connections-per-ip", "50", "--max-connections", "1000"] });
  const primary = qc.child.pid!;
  let stopped = false;
  t.teardown(async () => {
    if (stopped) process.kill(primary, "SIGCONT");
    await qc.stop();
  });
  // Both workers listening: a worker that is not yet listening takes no connections, and then the
  // test would prove one worker's share only.
  await waitFor(async () => {
    const probes = await openMany(qc.port, 8, 5000);
    const spread = connectionsByPid(qc.port).size;
    probes.forEach((c) => c.close());
    return spread === 2;
  }, 15_000, "connections on both workers");
  await sleep(300);
  // Sockets already open (the readiness probe's keep-alive connection) are not subscriptions.
  const baseline = connectionsByPid(qc.port);

  process.kill(primary, "SIGSTOP");
  stopped = true;
  const clients = await openMany(qc.port, 100, 15_000);
  t.teardown(() => clients.forEach((c) => c.close()));
  const admitted = clients.filter((c) => c.status === 200).length;
  const refused = clients.filter((c) => c.status === 503);
  const body = await refusedBody(refused[0]);
  // Only the admitted streams stay open: the refused ones are closed here, then each worker's sockets counted.
  refused.forEach((c) => c.close());
  await sleep(300);
  const byWorker = [...connectionsByPid(qc.port)].map(([pid, n]) => n - (baseline.get(pid) ?? 0));
  t.ok(admitted <= 50, `${admitted} of 100 admitted against a cap of 50 with the primary stopped`);
  t.ok(admitted >= 25, `${admitted} admitted: at least one worker's share (25)`);
  t.equal(admitted + refused.length, 100, "every other connection is refused with 503, none left hanging");
  t.ok(byWorker.every((n) => n <= 25), `per worker ${JSON.stringify(byWorker)}: none beyond its share of 25`);
  t.match(body, /your address/);

  // The primary comes back: its late verdicts are reconciled, so its count is true again.
  process.kill(primary, "SIGCONT");
  stopped = false;
  clients.forEach((c) => c.close());
  await sleep(1500);
  const after = await openMany(qc.port, 51, 10_000);
  t.teardown(() => after.forEach((c) => c.close()));
  const ok = after.filter((c) => c.status === 200).length;
  t.equal(ok, 50, `${ok} of 51 admitted once the primary answers again: the cap is whole, not leaked`);
});

async function refusedBody(c: RawSseClient | undefined): Promise<string> {
  if (c === undefined) return "";
  await c.waitFor(() => c.closed || c.body.includes("}"), 2000, "the refusal body").catch(() => undefined);
  return c.body;
}
