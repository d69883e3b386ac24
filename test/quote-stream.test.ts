import t from "tap";
import { connect } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import pino from "pino";
import { ensureQuoteStream, isStreamNotFound, QUOTE_STREAM } from "../src/ingest/quote-stream.js";
import { startNatsServer } from "./helpers/nats-server.js";

const apiError = (err_code: number, description: string) => new JetStreamApiError({ err_code, code: 404, description });

t.test("quote-stream - 'stream not found' is read from JetStream's error code, not from its text", async (t) => {
  t.ok(isStreamNotFound(apiError(JetStreamApiCodes.StreamNotFound, "stream not found")));
  t.ok(isStreamNotFound(apiError(JetStreamApiCodes.StreamNotFound, "worded otherwise by another server")));
  t.notOk(isStreamNotFound(apiError(JetStreamApiCodes.ConsumerNotFound, "consumer not found")), "another 404 is not the stream missing");
  t.notOk(isStreamNotFound(new Error("stream not found")), "text alone is not a JetStream answer");
  t.notOk(isStreamNotFound(undefined));
});

t.test("quote-stream - a server without the stream gets it created; a second call finds it", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  // What the lookup sees on a fresh server: the error the ingest must recognise.
  const lookup = await jsm.streams.info(QUOTE_STREAM).catch((err: unknown) => err);
  t.ok(isStreamNotFound(lookup), "nats-server's answer for a missing stream");
  const log = pino({ level: "silent" });
  const created = await ensureQuoteStream(nc, log);
  t.equal(created.config.name, QUOTE_STREAM);
  const found = await ensureQuoteStream(nc, log);
  t.equal(found.created, created.created, "the same stream, not a new one");
});
