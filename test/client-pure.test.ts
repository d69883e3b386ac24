import t from "tap";
import { backoffDelay, parseRetryAfter, retryDelay, statusVerdict } from "../src/client/backoff.js";
import { FrameError } from "../src/client/errors.js";
import { mergeQuotes, normalizeSymbols, parseQuotes, pruneQuotes } from "../src/client/merge.js";
import type { Quote } from "../src/client/quote.js";
import { SseParser, type SseEvent } from "../src/client/sse-parser.js";

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

t.test("client-merge - latest value wins, unwanted symbols are left out, prune drops removed symbols", async (t) => {
  const map = new Map<string, Quote>();
  const a1 = { sym: "A", ts: 1, seq: 1 };
  const a2 = { sym: "A", ts: 2, seq: 2 };
  const b1 = { sym: "B", ts: 1, seq: 1 };
  const z1 = { sym: "Z", ts: 1, seq: 1 };
  t.same(mergeQuotes(map, [a1, b1, z1], new Set(["A", "B"])), [a1, b1]);
  t.same(mergeQuotes(map, [a2], new Set(["A", "B"])), [a2]);
  t.same([...map.entries()], [["A", a2], ["B", b1]]);
  pruneQuotes(map, new Set(["B", "C"]));
  t.same([...map.keys()], ["B"]);
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
