import t from "tap";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast, waitFor, waitForWorkersListening, workerByClientPort } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

let nats: NatsServer;
let pub: TestPublisher;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
});
t.teardown(async () => {
  await pub?.close();
  await nats?.cleanup();
});

/**
 * Open `n` streams with `open` until they are served by both workers (closing them and trying
 * again otherwise; the kernel spreads connections by their ports). A per-worker limit passes a
 * test whose connections all land on one worker; spread over two, it fails.
 */
async function openOnBothWorkers(port: number, n: number, open: () => RawSseClient): Promise<RawSseClient[]> {
  for (let attempt = 1; ; attempt++) {
    const clients = Array.from({ length: n }, open);
    await Promise.all(clients.map((c) => c.waitFor(() => c.status !== 0, 5000, "a response")));
    await sleep(50);
    const owners = workerByClientPort(port);
    const workers = new Set(clients.map((c) => owners.get(c.socket.localPort!)));
    if (workers.size === 2 && !workers.has(undefined)) return clients;
    clients.forEach((c) => c.close());
    if (attempt === 10) throw new Error(`${n} connections landed on one worker 10 times in a row`);
    await sleep(300);
  }
}


t.test("cluster - --max-connections holds for all workers together, with 503 and Retry-After beyond it", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--max-connections", "10"] });
  t.teardown(() => qc.stop());
  await waitForWorkersListening(qc.port, 2);
  const clients = await openOnBothWorkers(qc.port, 10, () => RawSseClient.open(qc.port, "/quotes?symbols=CAP"));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.ok(clients.every((c) => c.status === 200), "no refusal while fewer than the cap are open");

  const over = await fetch(`${qc.base}/quotes?symbols=CAP`);
  t.equal(over.status, 503);
  t.match(over.headers.get("retry-after"), /^\d+$/);
  t.match(await over.json(), { error: /connection limit/ });

  clients[0]!.close();
  await sleep(300);
  const again = RawSseClient.open(qc.port, "/quotes?symbols=CAP");
  t.teardown(() => again.close());
  await again.waitFor(() => again.events.length >= 1, 5000, "snapshot after a slot was freed");
  t.equal(again.status, 200);

  const m = await qc.metrics();
  t.equal(metricValue(m, "quotecast_connections"), 10, "aggregated over both workers");
  t.equal(metricValue(m, "quotecast_max_connections"), 10, "the cap, for alerts on connections near it");
  t.ok(metricValue(m, "quotecast_rejected_connections_total", 'reason="max_connections"') >= 1, "refusal counted by reason");
});

t.test("cluster - --max-connections-per-ip counts the address behind a trusted proxy", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--max-connections-per-ip", "3", "--trust-proxy", "127.0.0.1"] });
  t.teardown(() => qc.stop());
  await waitForWorkersListening(qc.port, 2);
  const from = (ip: string) => RawSseClient.open(qc.port, "/quotes?symbols=PIP", { "X-Forwarded-For": ip });
  // The address's three streams on both workers: a per-worker count would then admit a fourth.
  const a = await openOnBothWorkers(qc.port, 3, () => from("198.51.100.1"));
  const b = from("198.51.100.2");
  t.teardown(() => [...a, b].forEach((c) => c.close()));
  for (const c of [...a, b]) await c.waitFor(() => c.status !== 0, 5000, "a response");
  t.same(a.map((c) => c.status), [200, 200, 200]);
  t.equal(b.status, 200, "another address is not affected");
  const over = await fetch(`${qc.base}/quotes?symbols=PIP`, { headers: { "X-Forwarded-For": "198.51.100.1" } });
  t.equal(over.status, 503);
  t.match(await over.json(), { error: /your address/ });
});

t.test("cluster - the connect rate is limited with 503 and a jittered Retry-After", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--max-connect-rate", "20"] });
  t.teardown(() => qc.stop());
  // Both workers listening before the burst: 60 connections then land on one worker with odds of 2^-59.
  await waitForWorkersListening(qc.port, 2);
  const statuses = await Promise.all(
    Array.from({ length: 60 }, async () => {
      const res = await fetch(`${qc.base}/quotes?symbols=RATE`);
      const retry = res.headers.get("retry-after");
      void res.body?.cancel();
      return { status: res.status, retry };
    }),
  );
  const ok = statuses.filter((s) => s.status === 200).length;
  const refused = statuses.filter((s) => s.status === 503);
  t.ok(ok >= 20 && ok <= 25, `${ok} of 60 admitted at 20/s`);
  t.equal(ok + refused.length, 60);
  t.ok(refused.every((s) => /^\d+$/.test(s.retry ?? "")), "every refusal says when to come back");
  t.ok(new Set(refused.map((s) => s.retry)).size > 1, "with jitter, so they do not all come back at once");
});

t.test("cluster - a worker killed with SIGKILL is restarted and the other keeps serving", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2"] });
  t.teardown(() => qc.stop());
  // Both workers listening and following the feed, or every client could land on the first one.
  // A scrape before every worker serves waits out prom-client's 5 s cluster timeout and fails.
  await waitFor(() => qc.logged("worker serving") >= 2, 15_000, "two workers serving");
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 2, 10_000, "two ready workers");
  const clients = Array.from({ length: 12 }, () => RawSseClient.open(qc.port, "/quotes?symbols=KILL"));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const [victim] = qc.workerPids();
  process.kill(victim!, "SIGKILL");
  await waitFor(() => clients.some((c) => c.closed), 5000, "the victim's clients to be cut off");
  const survivors = clients.filter((c) => !c.closed);
  t.ok(survivors.length > 0, `${survivors.length} clients were on the other worker`);
  const q = pub.quote("KILL");
  for (const c of survivors) await c.waitFor(() => c.quotes().some((e) => e.quotes.some((x) => x.seq === q.seq)), 5000, "a live quote on the surviving worker");
  t.pass("the surviving worker's clients kept receiving quotes");
  await waitFor(() => qc.workerPids().length === 2 && !qc.workerPids().includes(victim!), 10_000, "a replacement worker");
  await waitFor(() => qc.output().includes('"msg":"worker died; restarting"'), 1000, "the restart to be logged");
  t.pass("the dead worker was replaced");
  // A scrape times out until the replacement worker has set up its registry.
  await waitFor(() => qc.logged("worker serving") >= 3, 15_000, "the replacement worker serving");
  let m = "";
  await waitFor(async () => (m = await qc.metrics()).includes("quotecast_connections "), 15_000, "a scrape answered by both workers");
  t.equal(metricValue(m, "quotecast_worker_restarts_total"), 1, "the restart is counted by the primary");
  t.equal(metricValue(m, "quotecast_workers"), 2, "workers alive, counted by the primary");
  t.equal(metricValue(m, "quotecast_connections"), survivors.length, "the workers' metrics are still served alongside");
});

t.test("drain - SIGTERM delivers what was published, tells clients to reconnect, ends every stream in time, exits 0", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--drain-ms", "1500", "--flush-ms", "50"] });
  const clients = Array.from({ length: 40 }, (_, i) => RawSseClient.open(qc.port, `/quotes?symbols=DRA,DRB${i % 2 ? ",DRC" : ""}`));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  // Load: a steady stream of updates while the signal arrives.
  let publishing = true;
  const load = (async () => {
    while (publishing) {
      pub.quote("DRA");
      pub.quote("DRC");
      await sleep(2);
    }
  })();
  await sleep(300);
  const marker = pub.quote("DRB");
  await pub.flush();
  await sleep(20);
  const signalled = Date.now();
  qc.child.kill("SIGTERM");
  await sleep(100);
  const ready = await fetch(`${qc.base}/readyz`).then((r) => r.status, () => "refused");
  t.equal(ready, 503, "/readyz turns 503 at once");
  const refused = await fetch(`${qc.base}/quotes?symbols=DRA`).then((r) => r.status, () => "refused");
  t.equal(refused, 503, "new subscriptions are refused while draining");
  const code = await qc.exited;
  publishing = false;
  await load;
  const took = Date.now() - signalled;
  t.equal(code, 0, "the process exits 0");
  t.ok(took < 1500 + 2000, `exited ${took} ms after the signal with --drain-ms 1500`);
  for (const c of clients) await c.waitFor(() => c.closed, 2000, "stream end");
  const got = clients.filter((c) => c.quotes().some((e) => e.quotes.some((q) => q.sym === "DRB" && q.seq === marker.seq)));
  t.equal(got.length, clients.length, "every client received the quote published just before the signal");
  t.ok(clients.every((c) => c.retries.length >= 2), "every client was sent a new retry: before the end");
  const ends = clients.map((c) => c.events.at(-1)!.at);
  t.ok(Math.max(...ends) - Math.min(...ends) >= 300, "closes were spread over the drain window");
});

t.test("drain - a second signal forces the exit", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--drain-ms", "30000"] });
  const clients = Array.from({ length: 6 }, () => RawSseClient.open(qc.port, "/quotes?symbols=FORCE"));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  qc.child.kill("SIGTERM");
  await sleep(1500);
  t.equal(qc.child.exitCode, null, "still draining after the first signal (--drain-ms 30000)");
  const forcedAt = Date.now();
  qc.child.kill("SIGTERM");
  const code = await qc.exited;
  t.ok(Date.now() - forcedAt < 3000, `exited ${Date.now() - forcedAt} ms after the second signal`);
  t.not(code, 0, `a forced exit is not a clean one (exit ${code})`);
  await waitFor(() => clients.every((c) => c.closed), 3000, "every stream to end");
});

t.test("cluster - on a first start, two workers that both create the stream agree on its epoch", { timeout: 90_000 }, async (t) => {
  // Issue 17, item 1: with a fresh store and --workers 2, 1 start in 5 gave one worker ids from
  // Go's zero time; a client resuming on the other worker then got a full snapshot.
  for (let trial = 1; trial <= 3; trial++) {
    const fresh = await startNatsServer();
    const qc = await startQuotecast({ nats: fresh.url, args: ["--workers", "2"] });
    await waitFor(() => qc.logged("worker serving") >= 2, 15_000, "two workers serving");
    await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 2, 10_000, "two workers on NATS");
    const clients = Array.from({ length: 10 }, () => RawSseClient.open(qc.port, "/quotes?symbols=EPOCH"));
    for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
    const epochs = new Set(clients.map((c) => c.lastId()?.split("-")[0]));
    clients.forEach((c) => c.close());
    await qc.stop();
    await fresh.cleanup();
    t.equal(epochs.size, 1, `start ${trial}: one epoch over 10 connections (${[...epochs].join(", ")})`);
    t.ok(Date.parse("2020-01-01") < parseInt([...epochs][0]!, 36), "a real creation time, not Go's zero time");
  }
});

t.test("outage - while NATS is down clients stay connected with heartbeats, and converge when it returns", async (t) => {
  const own = await startNatsServer();
  t.teardown(() => own.cleanup());
  const ownPub = await TestPublisher.connect(own.url);
  t.teardown(() => ownPub.close().catch(() => undefined));
  const qc = await startQuotecast({ nats: own.url, args: ["--heartbeat-ms", "300"] });
  t.teardown(() => qc.stop());
  ownPub.quote("OUTA");
  await ownPub.flush();
  const c = RawSseClient.open(qc.port, "/quotes?symbols=OUTA,OUTB");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");

  await own.stop();
  await waitFor(async () => (await fetch(`${qc.base}/readyz`)).status === 503, 5000, "/readyz 503");
  t.equal(metricValue(await qc.metrics(), "quotecast_nats_connected"), 0, "quotecast_nats_connected is 0");
  const beats = c.comments.length;
  await sleep(1000);
  t.ok(c.comments.length >= beats + 2, "heartbeats keep coming");
  t.equal(c.closed, false, "the client stays connected");

  await own.restart();
  const restartedAt = Date.now();
  await waitFor(async () => (await fetch(`${qc.base}/readyz`)).status === 200, 10_000, "/readyz 200 again");
  t.equal(metricValue(await qc.metrics(), "quotecast_nats_connected"), 1);
  // The publisher reconnects by itself; publish the new latest values once it has.
  await waitFor(() => !ownPub.nc.isClosed() && ownPub.nc.info !== undefined, 5000, "publisher reconnect");
  await sleep(500);
  const a = ownPub.quote("OUTA");
  const b = ownPub.quote("OUTB");
  await ownPub.flush();
  await c.waitFor(() => {
    const seen = new Map<string, number>();
    for (const e of c.quotes()) for (const q of e.quotes) seen.set(q.sym, q.seq);
    return seen.get("OUTA") === a.seq && seen.get("OUTB") === b.seq;
  }, 5000, "the latest quotes after the outage");
  t.ok(Date.now() - restartedAt < 10_000, `converged ${Date.now() - restartedAt} ms after NATS came back`);
});
