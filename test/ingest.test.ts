import t from "tap";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { startNatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

t.test("ingest - the stream is created with live republishing, and every quote of a burst is received", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url });
  t.teardown(() => qc.stop());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const info = await (await jetstreamManager(nc)).streams.info("QUOTES");
  t.same(info.config.subjects, ["quotes.>"]);
  t.equal(info.config.max_msgs_per_subject, 1, "only the last quote of each symbol is kept");
  t.same(info.config.republish, { src: "quotes.>", dest: "qc.live.quotes.>" });

  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const before = metricValue(await qc.metrics(), "quotecast_quotes_received_total");
  for (let i = 0; i < 2000; i++) pub.quote("BURST");
  await pub.flush();
  const deadline = Date.now() + 5000;
  let received = 0;
  while (Date.now() < deadline && received < 2000) {
    received = metricValue(await qc.metrics(), "quotecast_quotes_received_total") - before;
    if (received < 2000) await sleep(50);
  }
  t.equal(received, 2000, "no quote of a burst on one symbol was skipped");
});

t.test("ingest - a stream made without republishing is followed with a consumer instead", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const legacy: Partial<StreamConfig> = { name: "QUOTES", subjects: ["quotes.>"], max_msgs_per_subject: 1 };
  await jsm.streams.add(legacy);
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const first = pub.quote("LEGACY");
  await pub.flush();

  const qc = await startQuotecast({ nats: nats.url });
  t.teardown(() => qc.stop());
  t.match(qc.output(), /created without live republishing.*nats stream rm QUOTES/, "the operator is told why and what to do");
  const c = RawSseClient.open(qc.port, "/quotes?symbols=LEGACY");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.same(c.snapshot(), [first]);
  const next = pub.quote("LEGACY");
  await c.waitFor(() => c.quotes().some((e) => e.quotes.some((q) => q.seq === next.seq)), 5000, "a live quote");
  t.pass("live quotes still flow");
});
