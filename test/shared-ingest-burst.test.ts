// A burst far above what the node takes in live: the shared ingest may fall behind, but once the
// feed stops every connection must converge to every symbol's final value.
import t from "tap";
import { startNatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, startQuotecast, waitFor } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

t.test("shared ingest - after a burst of 60,000 quotes, both workers' clients hold every final value", { timeout: 90_000 }, async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--ingest", "shared"] });
  t.teardown(() => qc.stop());
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 2, 10_000, "two ready workers");
  const syms = Array.from({ length: 300 }, (_, i) => `BU${i}`);
  const clients = Array.from({ length: 10 }, (_, k) => RawSseClient.open(qc.port, `/quotes?symbols=${syms.slice(k * 30, k * 30 + 30).join(",")}`));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const finals = new Map<string, number>();
  for (let i = 0; i < 60_000; i++) {
    const q = pub.quote(syms[i % syms.length]!);
    finals.set(q.sym, q.seq);
    if (i % 5000 === 4999) await pub.flush();
  }
  await pub.flush();
  const current = (c: RawSseClient, k: number) => {
    const seen = new Map<string, number>();
    for (const q of c.snapshot()) seen.set(q.sym, q.seq);
    for (const e of c.quotes()) for (const q of e.quotes) seen.set(q.sym, Math.max(seen.get(q.sym) ?? 0, q.seq));
    return syms.slice(k * 30, k * 30 + 30).every((s) => seen.get(s) === finals.get(s));
  };
  await waitFor(() => clients.every((c, k) => current(c, k)), 60_000, "every client to hold every final value");
  t.pass("every final value delivered");
});
