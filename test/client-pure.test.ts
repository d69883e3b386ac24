import t from "tap";
import { backoffDelay, parseRetryAfter, retryDelay, statusVerdict } from "../packages/client/src/backoff.js";
import { FrameError } from "../packages/client/src/errors.js";
import { applyDelta, normalizeSymbols, parseDeltas, parseQuotes, sameQuote } from "../packages/client/src/merge.js";
import type { Quote } from "../packages/client/src/quote.js";
import { SseParser, type SseEvent } from "../packages/client/src/sse-parser.js";

function collect(): { parser: SseParser; events: SseEvent[]; retries: number[]; comments: () => number } {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  let comments = 0;
  const parser = new SseParser({ event: (e) => events.push(e), retry: (ms) => retries.push(ms), comment: () => comments++ });
  return { parser, events, retries, comments: () => comments };
}

const STREAM =
  "retry: 1437\n\n" +
  'id: mwxewn9p-119\nevent: snapshot\ndata: [{"sym":"AAPL","ts":1,"seq":20}]\n\n' +
  ":\n\n" +
  'id: mwxewn9p-132\nevent: quotes\ndata: [{"sym":"AAPL","ts":2,"seq":21}]\n\n';

t.test("client-sse-parser - a whole stream in one chunk", async (t) => {
  const c = collect();
  c.parser.push(STREAM);
  t.same(c.retries, [1437]);
  t.equal(c.comments(), 1);
  t.same(c.events, [
    { event: "snapshot", data: '[{"sym":"AAPL","ts":1,"seq":20}]', id: "mwxewn9p-119" },
    { event: "quotes", data: '[{"sym":"AAPL","ts":2,"seq":21}]', id: "mwxewn9p-132" },
  ]);
});

t.test("client-sse-parser - the same stream split at every possible byte gives the same events", async (t) => {
  const whole = collect();
  whole.parser.push(STREAM);
  for (let i = 1; i < STREAM.length; i++) {
    const c = collect();
    c.parser.push(STREAM.slice(0, i));
    c.parser.push(STREAM.slice(i));
    if (JSON.stringify(c.events) !== JSON.stringify(whole.events) || c.retries.length !== 1 || c.comments() !== 1) {
      t.fail(`split at ${i} differs`);
      return;
    }
  }
  const c = collect();
  for (const ch of STREAM) c.parser.push(ch);
  t.same(c.events, whole.events, "one character at a time");
});

t.test("client-sse-parser - CRLF, lone CR and a CR/LF pair split across chunks are each one line break", async (t) => {
  const c = collect();
  c.parser.push("event: quotes\r\ndata: a\rdata: b\r");
  c.parser.push("\n\r\n");
  t.same(c.events, [{ event: "quotes", data: "a\nb", id: undefined }], "the LF after a chunk-final CR is not a second (dispatching) blank line");
});

t.test("client-sse-parser - field rules from the spec", async (t) => {
  const c = collect();
  c.parser.push("\uFEFFdata:no-space\n\n");
  c.parser.push("data\n\n");
  c.parser.push("event: x\nid: 1\n\n");
  c.parser.push("retry: 12a\nretry: 500\nfoo: bar\ndata:  two spaces\n\n");
  c.parser.push("data: partial");
  t.same(c.events, [
    { event: "message", data: "no-space", id: undefined },
    { event: "message", data: "", id: undefined },
    { event: "message", data: " two spaces", id: undefined },
  ], "BOM dropped; one leading space only removed; an event without data is not dispatched; a partial event waits");
  t.same(c.retries, [500], "a retry that is not all digits is ignored");
  c.parser.reset();
  c.parser.push("\n");
  t.equal(c.events.length, 3, "reset discards the partial event");
});

t.test("client-merge - parseQuotes keeps quotes and counts what is not one", async (t) => {
  t.same(parseQuotes('[{"sym":"A","ts":1,"seq":2,"bid":1.5},{"sym":"B"},3,null]'), { quotes: [{ sym: "A", ts: 1, seq: 2, bid: 1.5 }], rejected: 3 });
  t.same(parseQuotes("[]"), { quotes: [], rejected: 0 });
  t.throws(() => parseQuotes("{"), FrameError);
  t.throws(() => parseQuotes('{"sym":"A"}'), FrameError);
});

t.test("client-merge - parseDeltas keeps objects with a sym and counts the rest", async (t) => {
  t.same(parseDeltas('[{"sym":"A","bid":1},{"bid":2},[],null,"A"]'), { deltas: [{ sym: "A", bid: 1 }], rejected: 4 });
  t.throws(() => parseDeltas('{"sym":"A"}'), FrameError, "not an array");
  t.throws(() => parseDeltas("[{"), FrameError, "not JSON");
});

t.test("client-merge - applyDelta is Object.assign over the previous quote into a NEW object, null deletes", async (t) => {
  const base: Quote = Object.freeze({ sym: "A", ts: 1, seq: 1, bid: 10, ask: 11, halt: true });
  const next = applyDelta(base, { sym: "A", ts: 2, seq: 2, bid: 10.5, halt: null });
  t.same(next, { sym: "A", ts: 2, seq: 2, bid: 10.5, ask: 11 }, "changed fields replaced, unchanged kept, null deleted");
  t.not(next, base, "a new object");
  t.same(base, { sym: "A", ts: 1, seq: 1, bid: 10, ask: 11, halt: true }, "the previous quote is untouched");
  t.same(applyDelta(undefined, { sym: "B", ts: 1, seq: 1, last: 3 }), { sym: "B", ts: 1, seq: 1, last: 3 }, "a delta with every field over nothing is the quote");
  t.equal(applyDelta(undefined, { sym: "B", bid: 1 }), undefined, "without ts and seq it is not a quote");
  t.same(applyDelta(base, { sym: "A" }), base, "an empty delta gives an equal copy");
});

t.test("client-merge - a delta stream merged over the snapshot gives exactly the latest quotes", async (t) => {
  // Deltas as the contract defines them: fields that differ from the last value, null for a field that went away.
  const published: Quote[] = [
    { sym: "A", ts: 1, seq: 1, bid: 1, ask: 2, last: 1.5 },
    { sym: "A", ts: 2, seq: 2, bid: 1, ask: 2.5, last: 1.5 },
    { sym: "A", ts: 3, seq: 3, bid: 1.2, ask: 2.5 },
    { sym: "A", ts: 4, seq: 4, bid: 1.2, ask: 2.5, last: 9, prevClose: 8 },
  ];
  const delta = (prev: Quote, next: Quote): Record<string, unknown> => {
    const d: Record<string, unknown> = { sym: next.sym };
    for (const k of Object.keys(next)) if (prev[k] !== next[k]) d[k] = next[k];
    for (const k of Object.keys(prev)) if (!(k in next)) d[k] = null;
    return d;
  };
  let held: Quote | undefined = published[0];
  for (let i = 1; i < published.length; i++) {
    const d = delta(published[i - 1]!, published[i]!);
    const { deltas } = parseDeltas(JSON.stringify([d]));
    held = applyDelta(held, deltas[0]!);
    t.same(held, published[i], `after delta ${i}`);
  }
});

t.test("client-merge - sameQuote: the same seq and ts", async (t) => {
  const a = { sym: "A", ts: 1, seq: 1 };
  t.ok(sameQuote(a, { ...a }));
  t.notOk(sameQuote(a, { ...a, seq: 2 }));
  t.notOk(sameQuote(a, { ...a, ts: 2 }));
  t.notOk(sameQuote(undefined, a));
});

t.test("client-merge - normalizeSymbols trims, upper-cases and deduplicates in order", async (t) => {
  t.same(normalizeSymbols([" aapl", "MSFT", "Aapl", "", "brk.b"]), ["AAPL", "MSFT", "BRK.B"]);
});

t.test("client-backoff - full jitter under a doubling ceiling, floored at min, capped at max", async (t) => {
  t.equal(backoffDelay(0, 250, 15000, 0), 250, "never below min");
  t.equal(backoffDelay(1, 250, 15000, 0.999), 499, "ceiling 500");
  t.equal(backoffDelay(3, 250, 15000, 0.5), 1000, "ceiling 250*2^3 = 2000, half of it");
  t.equal(backoffDelay(10, 250, 15000, 0.5), 7500, "ceiling capped at 15000");
  t.equal(backoffDelay(1e6, 250, 15000, 0.999999), 14999, "huge attempt counts do not overflow");
});

t.test("client-backoff - server hints are lower bounds", async (t) => {
  t.equal(retryDelay(300, [undefined, 1500]), 1500);
  t.equal(retryDelay(3000, [1000, 1500]), 3000);
  t.equal(retryDelay(300, [2000, undefined]), 2000);
});

t.test("client-backoff - Retry-After as seconds or an HTTP date", async (t) => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  t.equal(parseRetryAfter("2", now), 2000);
  t.equal(parseRetryAfter(" 0 ", now), 0);
  t.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:03 GMT", now), 3000);
  t.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0, "a date in the past means now");
  t.equal(parseRetryAfter("soon", now), undefined);
  t.equal(parseRetryAfter(null, now), undefined);
  t.equal(parseRetryAfter("-1", now), undefined);
});

t.test("client-backoff - which HTTP answers are worth retrying", async (t) => {
  t.equal(statusVerdict(503, false), "retry");
  t.equal(statusVerdict(500, false), "retry");
  t.equal(statusVerdict(429, false), "retry");
  t.equal(statusVerdict(401, false), "fatal");
  t.equal(statusVerdict(401, true), "retry-with-token");
  t.equal(statusVerdict(400, true), "fatal");
  t.equal(statusVerdict(403, true), "fatal");
  t.equal(statusVerdict(404, false), "fatal");
});
