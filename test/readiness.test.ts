import t from "tap";
import { startNatsServer } from "./helpers/nats-server.js";
import { metricValue, sleep, startQuotecast } from "./helpers/quotecast.js";

t.test("readiness - /readyz is 503 while connected to NATS but the last values are not loaded", async (t) => {
  // No JetStream: quotecast connects, but cannot read the QUOTES stream, so it never loads.
  const nats = await startNatsServer({ jetstream: false });
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url, waitReady: false });
  t.teardown(() => qc.stop());
  const deadline = Date.now() + 3000;
  let polls = 0;
  while (Date.now() < deadline) {
    t.equal((await fetch(`${qc.base}/readyz`)).status, 503, "not ready");
    polls++;
    await sleep(250);
  }
  t.equal((await fetch(`${qc.base}/healthz`)).status, 200, "while it serves");
  t.equal(metricValue(await qc.metrics(), "quotecast_nats_connected"), 1, "and is connected to NATS");
  t.match(qc.output(), /could not set up the quote stream; retrying every second/, "it says why");
  t.comment(`${polls} polls over 3 s, all 503`);
});
