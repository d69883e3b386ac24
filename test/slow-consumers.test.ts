import t from "tap";
import { startNatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

const SYMBOLS = Array.from({ length: 10 }, (_, i) => `SLOW${i}`);
const PATH = `/quotes?symbols=${SYMBOLS.join(",")}`;
// ~4 KB quotes, ~1,000 a second: 4 MB/s that a stalled socket cannot take.
const PAD = "p".repeat(4000);

t.test("slow consumers - 20 stalled clients do not slow a reader, memory stays bounded, they are cut off and can resume", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "20", "--slow-consumer-ms", "3000"] });
  t.teardown(() => qc.stop());

  const published = new Map<string, number>();
  const feed = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (const s of SYMBOLS) published.set(s, pub.quote(s, { pad: PAD }).seq);
      await sleep(10);
    }
    await pub.flush();
  };
  const latencies = (c: RawSseClient, from: number) => {
    const l = c.quotes().filter((e) => e.at >= from).flatMap((e) => e.quotes.map((q) => e.at - q.ts));
    l.sort((a, b) => a - b);
    return { p50: l[Math.floor(l.length / 2)]!, p99: l[Math.floor(l.length * 0.99)]!, n: l.length };
  };

  const reader = RawSseClient.open(qc.port, PATH);
  t.teardown(() => reader.close());
  await reader.waitFor(() => reader.events.length >= 1, 5000, "snapshot");
  await feed(500); // warm-up
  const aloneFrom = Date.now();
  await feed(2000);
  const alone = latencies(reader, aloneFrom);
  const rssBefore = metricValue(await qc.metrics(), "quotecast_process_resident_memory_bytes");

  const stalled = Array.from({ length: 20 }, () => RawSseClient.open(qc.port, PATH));
  t.teardown(() => stalled.forEach((c) => c.close()));
  for (const c of stalled) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  for (const c of stalled) c.pause();
  const crowdFrom = Date.now();
  await feed(2500);
  const crowded = latencies(reader, crowdFrom);
  const m = await qc.metrics();
  const rssDuring = metricValue(m, "quotecast_process_resident_memory_bytes");

  t.ok(alone.n > 100 && crowded.n > 100, `the reader kept receiving (${alone.n}, ${crowded.n} quotes)`);
  t.ok(crowded.p50 <= alone.p50 + 25, `reader p50 ${crowded.p50} ms with 20 stalled clients vs ${alone.p50} ms alone`);
  t.ok(crowded.p99 <= Math.max(alone.p99 * 2, alone.p99 + 50), `reader p99 ${crowded.p99} ms vs ${alone.p99} ms alone`);
  // A stalled connection holds its kernel buffers, at most one frame in uWS and a set of owed
  // symbol names: no queue that grows with the feed.
  t.ok(rssDuring - rssBefore < 64 * 1024 * 1024, `RSS grew ${((rssDuring - rssBefore) / 1048576).toFixed(1)} MB while 20 clients stalled under ~4 MB/s`);

  // Congestion begins once the kernel's socket buffers (megabytes on loopback) are full; from
  // then on --slow-consumer-ms 3000 runs. Keep feeding until all are cut off, within a bound.
  const deadline = Date.now() + 15_000;
  let after = await qc.metrics();
  while (metricValue(after, "quotecast_slow_consumer_disconnects_total") < 20 && Date.now() < deadline) {
    await feed(500);
    after = await qc.metrics();
  }
  t.equal(metricValue(after, "quotecast_slow_consumer_disconnects_total"), 20, "every stalled client was disconnected and counted");
  t.equal(metricValue(after, "quotecast_connections"), 1, "only the reader is left");

  // A cut-off client reconnects with the last id it read and gets what changed since.
  // Once the reader holds the last published quote of every symbol, the server has it too: the
  // resumed snapshot must then hold exactly those.
  const readerSeq = () => {
    const latest = new Map<string, number>();
    for (const e of reader.quotes()) for (const q of e.quotes) latest.set(q.sym, q.seq);
    return latest;
  };
  await reader.waitFor(() => SYMBOLS.every((s) => readerSeq().get(s) === published.get(s)), 5000, "the reader has the last published quotes");
  const victim = stalled[0]!;
  const lastId = victim.events.filter((e) => e.id !== undefined).at(-1)!.id!;
  const back = RawSseClient.open(qc.port, PATH, { "Last-Event-ID": lastId });
  t.teardown(() => back.close());
  await back.waitFor(() => back.events.length >= 1, 5000, "resumed snapshot");
  const resumed = back.snapshot();
  t.same(resumed.map((q) => q.sym).sort(), [...SYMBOLS].sort(), "every symbol changed since its last id");
  t.same(Object.fromEntries(resumed.map((q) => [q.sym, q.seq])), Object.fromEntries(published), "each at its latest published value");
});
