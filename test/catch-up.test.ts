// Catch-up after a NATS outage under a running feed: quotes published while a quotecast node is
// cut off from NATS reach it only through the catch-up, and nothing is published after the
// outage, so no live quote can hide a catch-up that does not end. The outage is repeated, since
// the failure it guards against (issue 17, item 2) came in 5 of 20 outages.
import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import { AckedPublisher } from "./helpers/acked-publisher.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { metricValue, sleep, startQuotecast, waitFor } from "./helpers/quotecast.js";
import { ResumingClient } from "./helpers/resuming-client.js";
import { TcpRelay } from "./helpers/tcp-relay.js";

const SYMBOLS = Array.from({ length: 20 }, (_, i) => `CU${i}`);
const OUTAGES = Number(process.env.CATCH_UP_OUTAGES ?? 12);

const idSeq = (id: string | undefined) => Number(id?.split("-")[1] ?? -1);

t.test(`catch-up - ${OUTAGES} NATS outages under a running feed: every worker catches up with what was published meanwhile, with nothing after`, { timeout: 30_000 + OUTAGES * 15_000 }, async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const relay = await TcpRelay.start(nats.port);
  t.teardown(() => relay.close());
  const qc = await startQuotecast({ nats: relay.url, args: ["--workers", "2", "--flush-ms", "20"] });
  t.teardown(() => qc.stop());
  const pub = await AckedPublisher.connect([nats.url]);
  t.teardown(() => pub.close());
  const jsm = await jetstreamManager(pub.nc);
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 2, 10_000, "both workers on NATS");
  const clients = Array.from({ length: 8 }, () => new ResumingClient([qc.port], SYMBOLS));
  t.teardown(() => clients.forEach((c) => c.close()));
  await waitFor(() => clients.every((c) => c.streaming), 10_000, "every client streaming");

  const took: number[] = [];
  for (let outage = 1; outage <= OUTAGES; outage++) {
    const load = pub.run(SYMBOLS, 5, 10);
    await sleep(300);
    relay.cut();
    await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 0, 5_000, "both workers to lose NATS");
    // The feed goes on while quotecast is cut off, then stops: nothing is published after the outage.
    await sleep(400);
    await load.stop();
    const expected = new Map(pub.latest);
    const lastSeq = (await jsm.streams.info("QUOTES")).state.last_seq;
    const restoredAt = Date.now();
    relay.restore();
    await waitFor(() => clients.every((c) => c.matches(expected) && idSeq(c.lastId) >= lastSeq), 10_000, "every client to hold the outage's last quotes, with ids past them").catch((err: Error) => {
      const state = clients.map((c) => `id ${c.lastId} ${c.diff(expected).join(" ")}`).join(" | ");
      throw new Error(`outage ${outage}: ${err.message}; stream at ${lastSeq}: ${state}`);
    });
    took.push(Date.now() - restoredAt);
    t.equal(clients.reduce((n, c) => n + c.backwards, 0), 0, `outage ${outage}: nothing stale`);
  }
  t.ok(clients.every((c) => c.attempts.length === 1), "no client lost its connection");
  t.comment(`${OUTAGES} outages: clients held every quote of the outage, with ids past it, ${Math.min(...took)}-${Math.max(...took)} ms after NATS was reachable again`);
});
