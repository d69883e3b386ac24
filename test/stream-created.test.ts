import t from "tap";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import pino from "pino";
import { ensureQuoteStream, QUOTE_STREAM } from "../src/ingest/quote-stream.js";
import { realCreatedMs, stableCreated, StreamCreationTimeError } from "../src/ingest/stream-created.js";
import { startNatsCluster } from "./helpers/nats-server.js";
import { sleep } from "./helpers/quotecast.js";

const ZERO = "0001-01-01T00:00:00Z";
const REAL = "2026-12-06T10:20:33.574968168Z";
const info = (created: string) => ({ created }) as unknown as StreamInfo;
/** A reader that answers the given creation times in turn, then the last one for good. */
const answers = (...created: string[]) => {
  let i = 0;
  const read = () => Promise.resolve(info(created[Math.min(i++, created.length - 1)]!));
  return Object.assign(read, { reads: () => i });
};

t.test("stream-created - Go's zero time, an empty or unparsable time is not a creation time", async (t) => {
  t.equal(realCreatedMs(ZERO), null, "0001-01-01T00:00:00Z (what nats-server 2.9.10 answers mid-creation)");
  t.equal(realCreatedMs(""), null);
  t.equal(realCreatedMs(undefined), null);
  t.equal(realCreatedMs("soon"), null);
  t.equal(realCreatedMs("1970-01-01T00:00:00Z"), null, "the Unix epoch itself is no stream's creation time either");
  t.equal(realCreatedMs(REAL), Date.parse(REAL));
});

t.test("stream-created - a zero creation time is read again until two reads agree on a real one", async (t) => {
  const read = answers(ZERO, ZERO, REAL, REAL);
  const got = await stableCreated(info(ZERO), read, 10, 1);
  t.equal(got.created, REAL);
  t.equal(read.reads(), 4);
});

t.test("stream-created - the create's own answer is not trusted until a read agrees with it", async (t) => {
  // Seen on a 3-node cluster: streams.add answered 10:20:33.560, every streams.info 10:20:33.574.
  const read = answers(REAL, REAL);
  const got = await stableCreated(info("2026-12-06T10:20:33.560679678Z"), read, 10, 1);
  t.equal(got.created, REAL, "the time the stream reports, not the create's");
  t.equal(read.reads(), 2);
  const agreeing = answers(REAL);
  t.equal((await stableCreated(info(REAL), agreeing, 10, 1)).created, REAL);
  t.equal(agreeing.reads(), 1, "one read when it agrees at once");
});

t.test("stream-created - bounded: a creation time that never becomes real is a typed error", async (t) => {
  const read = answers(ZERO);
  await t.rejects(stableCreated(info(ZERO), read, 5, 1), StreamCreationTimeError);
  t.equal(read.reads(), 5);
});

t.test("stream-created - racing creators and pollers on a 3-node NATS cluster all get one real creation time", { timeout: 90_000 }, async (t) => {
  const cluster = await startNatsCluster(3);
  t.teardown(() => cluster.cleanup());
  const ncs = await Promise.all([...cluster.urls, ...cluster.urls].map((url) => connect({ servers: url })));
  t.teardown(() => Promise.all(ncs.map((nc) => nc.close())));
  const log = pino({ level: "silent" });
  const jsm = await jetstreamManager(ncs[0]!);
  for (let round = 0; round < 4; round++) {
    // Pollers ask for the stream's info all through its creation, as another worker would. A
    // request sent mid-creation may get no answer: a short timeout lets the poller ask again at
    // once, and lets the round end without waiting out nats.js's default 5 s on that one.
    let polling = true;
    const polled: string[] = [];
    const pollers = ncs.map(async (nc) => {
      const j = await jetstreamManager(nc, { timeout: 250 });
      while (polling) await j.streams.info(QUOTE_STREAM).then((i) => polled.push(i.created), () => undefined);
    });
    // Each retries as the ingest does: a JetStream request may time out while the cluster creates.
    const ensure = async (nc: (typeof ncs)[number]): Promise<StreamInfo> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await ensureQuoteStream(nc, log);
        } catch (err) {
          if (attempt === 5) throw err;
          await sleep(1000);
        }
      }
    };
    const results = await Promise.all(ncs.map(ensure)).finally(() => (polling = false));
    await Promise.all(pollers);
    const created = new Set(results.map((r) => r.created));
    const final = (await jsm.streams.info(QUOTE_STREAM)).created;
    t.same([...created], [final], `round ${round}: all ${ncs.length} creators got the stream's creation time`);
    t.not(realCreatedMs(final), null, "a real time");
    const zero = polled.filter((c) => realCreatedMs(c) === null).length;
    const other = polled.filter((c) => c !== final && realCreatedMs(c) !== null).length;
    t.comment(`round ${round}: pollers read ${polled.length} infos during creation, ${zero} with a zero time, ${other} with another real time`);
    await jsm.streams.delete(QUOTE_STREAM);
    await sleep(500);
  }
});
