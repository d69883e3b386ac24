// A worker of the shared ingest that stops reading (SIGSTOP: what a start starved of CPU looks
// like to the primary) while the feed runs: the primary queues no backlog for it, and once it runs
// again it is caught up at once, with every final value and the same ids as the other worker.
import t from "tap";
import { startNatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, startQuotecast, waitFor, workerByClientPort } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

t.test("shared ingest - a stopped worker is caught up, not fed a backlog, when it runs again", { timeout: 90_000 }, async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--ingest", "shared"] });
  t.teardown(() => qc.stop());
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 2, 10_000, "two ready workers");
  const syms = Array.from({ length: 200 }, (_, i) => `ST${i}`);
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  for (const s of syms) pub.quote(s);
  await pub.flush();
  const clients = Array.from({ length: 12 }, () => RawSseClient.open(qc.port, `/quotes?symbols=${syms.join(",")}`));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const owners = workerByClientPort(qc.port);
  const victim = qc.workerPids()[0]!;
  const victimClients = clients.filter((c) => owners.get(c.socket.localPort!) === victim);
  t.ok(victimClients.length > 0, `clients on the worker to stop (${victimClients.length} of ${clients.length})`);

  process.kill(victim, "SIGSTOP");
  let stopped = true;
  t.teardown(() => {
    if (stopped) process.kill(victim, "SIGCONT");
  });
  const finals = new Map<string, number>();
  for (let i = 0; i < 40_000; i++) {
    const q = pub.quote(syms[i % syms.length]!);
    finals.set(q.sym, q.seq);
    if (i % 2000 === 1999) await pub.flush();
  }
  await pub.flush();
  // The other worker keeps up meanwhile.
  const current = (c: RawSseClient) => {
    const seen = new Map<string, number>();
    for (const q of c.snapshot()) seen.set(q.sym, q.seq);
    for (const e of c.quotes()) for (const q of e.quotes) seen.set(q.sym, Math.max(seen.get(q.sym) ?? 0, q.seq));
    return syms.every((s) => seen.get(s) === finals.get(s));
  };
  const others = clients.filter((c) => !victimClients.includes(c));
  await waitFor(() => others.every(current), 30_000, "the running worker's clients to hold every final value");

  const resumedAt = Date.now();
  process.kill(victim, "SIGCONT");
  stopped = false;
  await waitFor(() => victimClients.every(current), 5000, "the resumed worker's clients to hold every final value within 5 s");
  t.pass(`caught up ${Date.now() - resumedAt} ms after SIGCONT`);
  // (A scrape waits for every worker: none while one is stopped.)
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_ingest_worker_catch_ups_total") >= 1, 5000, "a catch-up message");
  t.ok(metricValue(await qc.metrics(), "quotecast_ingest_batches_skipped_total") > 0, "batches were not queued for the stopped worker");
  // Same position on both: new clients get the same snapshot id whichever worker serves them.
  const late = Array.from({ length: 12 }, () => RawSseClient.open(qc.port, `/quotes?symbols=${syms.join(",")}`));
  t.teardown(() => late.forEach((c) => c.close()));
  for (const c of late) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const lateOwners = workerByClientPort(qc.port);
  t.equal(new Set(late.map((c) => lateOwners.get(c.socket.localPort!))).size, 2, "new clients on both workers");
  t.equal(new Set(late.map((c) => c.lastId())).size, 1, "one snapshot id on both workers");
});
