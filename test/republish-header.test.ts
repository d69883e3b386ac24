import t from "tap";
import { headers } from "@nats-io/transport-node";
import { sequenceFromHeaderBlock, streamSequence } from "../src/ingest/republish-header.js";

const enc = (s: string) => new TextEncoder().encode(s);

t.test("republish-header - the sequence is read from the raw header block", async (t) => {
  const block = enc("NATS/1.0\r\nNats-Stream: QUOTES\r\nNats-Subject: quotes.AAPL\r\nNats-Sequence: 123456\r\nNats-Time-Stamp: 2026-11-26T10:00:00Z\r\nNats-Last-Sequence: 123000\r\n\r\n");
  t.equal(sequenceFromHeaderBlock(block), 123456, "not confused with Nats-Last-Sequence");
  t.equal(sequenceFromHeaderBlock(enc("NATS/1.0\r\nNats-Last-Sequence: 9\r\n\r\n")), 0, "absent");
  t.equal(sequenceFromHeaderBlock(enc("NATS/1.0\r\nNats-Sequence: 12x\r\n\r\n")), 0, "not a number");
  t.equal(sequenceFromHeaderBlock(enc("NATS/1.0\r\nNats-Sequence:\r\n\r\n")), 0, "empty");
  t.equal(sequenceFromHeaderBlock(enc("NATS/1.0\r\nNats-Sequence:7\r\n\r\n")), 7, "no space after the colon");
});

t.test("republish-header - a message without the raw internals falls back to the header API", async (t) => {
  const h = headers();
  h.set("Nats-Sequence", "42");
  t.equal(streamSequence({ headers: h } as never), 42);
  t.equal(streamSequence({ headers: undefined } as never), 0);
});
