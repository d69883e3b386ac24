// deploy/nats/permissions.conf on a real nats-server: the feed (no credentials) may publish quotes
// and create the stream, nobody may publish on the internal republish subject, and quotecast,
// with its own user, runs on what the file allows it.
import t from "tap";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import pino from "pino";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureQuoteStream } from "../src/ingest/quote-stream.js";
import { streamReader } from "../src/ingest/gap-reader.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { metricValue, sleep, startQuotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

const CONF = fileURLToPath(new URL("../deploy/nats/permissions.conf", import.meta.url));

t.test("nats-permissions - the deploy's NATS permissions: feed publishes quotes only, nobody forges the republish, quotecast runs", async (t) => {
  process.env.QUOTECAST_NATS_PASSWORD = "qc-test-secret";
  process.env.FEED_NATS_PASSWORD = "feed-test-secret";
  const nats = await startNatsServer({ args: ["-c", CONF] });
  t.teardown(() => nats.cleanup());
  const feed = await connect({ servers: nats.url, name: "feed-without-credentials" });
  t.teardown(() => feed.close());
  const errors: string[] = [];
  void (async () => {
    for await (const s of feed.status()) if (s.type === "error") errors.push(String((s as { error?: unknown }).error));
  })();
  await ensureQuoteStream(feed, pino({ level: "silent" }));
  t.pass("the feed created the QUOTES stream");

  const qc = await startQuotecast({ nats: nats.url, env: { QUOTECAST_NATS_USER: "quotecast", QUOTECAST_NATS_PASSWORD: "qc-test-secret" } });
  t.teardown(() => qc.stop());
  const c = RawSseClient.open(qc.port, "/quotes?symbols=PERM,EVIL");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  feed.publish("quotes.PERM", JSON.stringify({ sym: "PERM", ts: Date.now(), seq: 1 }));
  feed.publish("qc.live.quotes.EVIL", JSON.stringify({ sym: "EVIL", ts: Date.now(), seq: 1 }));
  await feed.flush();
  await c.waitFor(() => c.quotes().some((e) => e.quotes.some((q) => q.sym === "PERM")), 5000, "the feed's quote through quotecast");
  await sleep(300);
  t.notOk(c.events.some((e) => e.data.includes("EVIL")), "the forged message reached no client");
  t.match(errors.join(" "), /permissions violation for publish to "?qc\.live\.quotes\.EVIL/i, "NATS refused the feed's publish on qc.live.>");
  t.match(nats.logs(), /Publish Violation.*qc\.live\.quotes\.EVIL/i, "and logged it");
  // A gap in the live feed is read with single-message gets (docs/faults.md): allowed too.
  const asQuotecast = await connect({ servers: nats.url, user: "quotecast", pass: "qc-test-secret" });
  t.teardown(() => asQuotecast.close());
  const jsm = await jetstreamManager(asQuotecast, { checkAPI: false, timeout: 2_000 });
  for (const direct of [true, false]) {
    const m = await streamReader(jsm, direct)(1);
    t.equal(m?.subject, "quotes.PERM", `quotecast may read the stream with ${direct ? "DIRECT.GET" : "STREAM.MSG.GET"}`);
  }
  t.notMatch(nats.logs(), /Violation.*"?quotecast/i, "quotecast needed nothing the file does not allow");
  t.equal(metricValue(await qc.metrics(), "quotecast_nats_connected"), 1);
});
