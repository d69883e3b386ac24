import t from "tap";
import { connect } from "node:net";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast, type Quotecast } from "./helpers/quotecast.js";
import { AmbiguousFramingError, checkFraming } from "../src/http/request-limits.js";

let nats: NatsServer;
let qc: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  qc = await startQuotecast({ nats: nats.url });
});

t.teardown(async () => {
  await qc?.stop();
  await nats?.cleanup();
});

interface RawOutcome {
  readonly response: string;
  /** ms from connect to the server closing the socket; -1 when it stayed open until `waitMs`. */
  readonly closedAfterMs: number;
}

/** How long `raw(..., { untilAnswered: true })` keeps reading after one complete answer, for a second one. */
const AFTER_ANSWER_MS = 200;

/** Whether `response` holds at least one whole HTTP response (head plus its Content-Length body). */
function hasWholeAnswer(response: string): boolean {
  const end = response.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(response.slice(0, end + 2));
  return length !== null && response.length - (end + 4) >= Number(length[1]);
}

/**
 * Write `chunks` on a raw socket (one every `gapMs`) and report what came back and whether the
 * server closed the socket within `waitMs`. With `untilAnswered`, for a server that keeps the
 * connection open after answering: stop `AFTER_ANSWER_MS` after a whole answer has arrived
 * (closedAfterMs is then -1 unless the server closed first); any bytes that come meanwhile are kept.
 */
function raw(chunks: readonly string[], waitMs: number, gapMs = 0, { untilAnswered = false } = {}): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const s = connect(qc.port, "127.0.0.1");
    const t0 = Date.now();
    let response = "";
    let i = 0;
    let gap: NodeJS.Timeout | undefined;
    const writeNext = () => {
      if (i < chunks.length && !s.destroyed) s.write(chunks[i++]!);
      if (i < chunks.length) gap = setTimeout(writeNext, gapMs);
    };
    const done = (closedAfterMs: number) => {
      clearTimeout(timer);
      clearTimeout(gap);
      s.destroy();
      resolve({ response, closedAfterMs });
    };
    let timer = setTimeout(() => done(-1), waitMs);
    let lingering = false;
    s.on("data", (d) => {
      response += d.toString("latin1");
      if (untilAnswered && !lingering && hasWholeAnswer(response)) {
        lingering = true;
        clearTimeout(timer);
        timer = setTimeout(() => done(-1), AFTER_ANSWER_MS);
      }
    });
    s.on("error", () => undefined);
    s.on("close", () => done(Date.now() - t0));
    s.on("connect", writeNext);
  });
}

const status = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join("");

t.test("request-limits - a too-long request target is 414 with a JSON body", async (t) => {
  const r = await raw([`GET /quotes?symbols=${"ABCD,".repeat(4000)} HTTP/1.1\r\nHost: x\r\n\r\n`], 5000, 0, { untilAnswered: true });
  t.equal(status(r.response), 414);
  t.match(r.response, /\{"error":"request target is \d+ bytes long; at most 16384 are accepted"\}/);
});

t.test("request-limits - too many or too large headers are 431", async (t) => {
  const many = await raw([`GET /quotes?symbols=A HTTP/1.1\r\nHost: x\r\n${headers(44)}\r\n`], 5000, 0, { untilAnswered: true });
  t.equal(status(many.response), 431);
  t.match(many.response, /45 request headers; at most 40/);
  const large = await raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"x".repeat(20_000)}\r\n\r\n`], 5000, 0, { untilAnswered: true });
  t.equal(status(large.response), 431);
  t.match(large.response, /request headers are \d+ bytes; at most 16384/);
});

t.test("request-limits - beyond uWS's own limits the socket is closed, never answered with garbage, and the server keeps serving", async (t) => {
  const pids = qc.workerPids();
  const [huge, tooMany, junk, slowloris, http10, noHost, absolute, http10NoHost] = await Promise.all([
    // A head over 4 KiB that arrives in several reads: uWS 20.30 resets the connection at once.
    raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: `, ...Array.from({ length: 8 }, () => "x".repeat(1000)), "\r\n\r\n"], 15_000, 20),
    // More headers than uWS parses (49): it never calls us; its idle timeout closes the socket.
    raw([`GET /healthz HTTP/1.1\r\nHost: x\r\n${headers(60)}\r\n`], 15_000),
    raw(["\u0000\u0001\u00ffgarbage\r\n\r\n"], 15_000),
    // Slowloris: a header line every second, never finishing the request.
    raw(["GET /quotes?symbols=AAPL HTTP/1.1\r\n", ...Array.from({ length: 30 }, (_, i) => `X-Slow-${i}: 1\r\n`)], 15_000, 1000),
    // uWS 20.30's parser takes HTTP/1.1 in origin form with a Host header only; anything else never
    // reaches a handler, so nothing here can answer it (docs/security.md, "HTTP versions").
    raw(["GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n"], 15_000),
    raw(["GET /healthz HTTP/1.1\r\n\r\n"], 15_000),
    raw(["GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n"], 15_000),
    raw(["GET /healthz HTTP/1.0\r\n\r\n"], 15_000),
  ]);
  t.ok(huge.closedAfterMs >= 0 && huge.closedAfterMs < 5000, `huge headers: closed after ${huge.closedAfterMs} ms`);
  t.equal(huge.response, "", "no answer to headers uWS could not hold");
  for (const [name, r] of [["too many headers", tooMany], ["junk", junk], ["slowloris", slowloris], ["HTTP/1.0", http10], ["no Host", noHost], ["absolute-form target", absolute], ["HTTP/1.0 without Host", http10NoHost]] as const) {
    t.ok(r.closedAfterMs >= 0 && r.closedAfterMs < 13_000, `${name}: closed after ${r.closedAfterMs} ms (uWS closes requests unfinished after ~10 s)`);
    t.equal(status(r.response), 0, `${name}: no response`);
  }
  const health = await fetch(`${qc.base}/healthz`);
  t.equal(health.status, 200);
  t.same(qc.workerPids(), pids, "no worker restarted");
});

const answers = (response: string) => response.match(/HTTP\/1\.1 \d{3}/g) ?? [];

t.test("request-limits - two different Content-Length values: 400 and close, the smuggled request is never answered", async (t) => {
  const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const head = `GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n`;
  // In one write, as a front end that honours the last header would forward it.
  const oneRead = await raw([head + smuggled], 5000);
  t.notMatch(oneRead.response, /smuggled/, "the second request is not answered");
  t.notMatch(oneRead.response, /HTTP\/1\.1 200/, "the first is not served either");
  t.ok(answers(oneRead.response).length <= 1 && answers(oneRead.response).every((a) => a.endsWith("400")), `at most one answer, a 400: ${JSON.stringify(answers(oneRead.response))}`);
  t.ok(oneRead.closedAfterMs >= 0 && oneRead.closedAfterMs < 2000, `closed after ${oneRead.closedAfterMs} ms`);
  // The smuggled bytes in a later read: the 400 goes out with Connection: close and nothing more is read.
  const twoReads = await raw([head, smuggled], 5000, 300);
  t.equal(status(twoReads.response), 400);
  t.match(twoReads.response, /\r\nConnection: close\r\n/i);
  t.match(twoReads.response, /\{"error":"Content-Length headers with different values"\}/);
  t.equal(answers(twoReads.response).length, 1, "one answer only");
  t.ok(twoReads.closedAfterMs >= 0 && twoReads.closedAfterMs < 2000, `closed after ${twoReads.closedAfterMs} ms`);
  // A list in one header is the same ambiguity (uWS 20.30 closes on it itself, before any answer).
  const list = await raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0, ${smuggled.length}\r\n\r\n${smuggled}`], 5000);
  t.notMatch(list.response, /smuggled|HTTP\/1\.1 200/, "list: nothing served");
  t.ok(answers(list.response).every((a) => a.endsWith("400")), `list: only a 400, if anything: ${JSON.stringify(answers(list.response))}`);
  t.ok(list.closedAfterMs >= 0 && list.closedAfterMs < 2000, `list: closed after ${list.closedAfterMs} ms`);
});

t.test("request-limits - Transfer-Encoding (alone or with Content-Length) is refused and the connection closed", async (t) => {
  const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const chunked = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
  for (const [name, request] of [
    ["chunked", `GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`],
    ["chunked and Content-Length", `GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`],
  ] as const) {
    const r = await raw([request], 5000);
    t.notMatch(r.response, /smuggled|HTTP\/1\.1 200/, `${name}: nothing served`);
    t.ok(answers(r.response).every((a) => a.endsWith("400")), `${name}: only a 400, if anything: ${JSON.stringify(answers(r.response))}`);
    t.ok(r.closedAfterMs >= 0 && r.closedAfterMs < 2000, `${name}: closed after ${r.closedAfterMs} ms`);
  }
  const alone = await raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`], 5000);
  t.equal(status(alone.response), 400, "Transfer-Encoding with nothing after it: 400");
  t.match(alone.response, /Transfer-Encoding is not accepted/);
});

t.test("request-limits - the same Content-Length twice is one framing, and the request is served", async (t) => {
  const r = await raw([`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`], 3000, 0, { untilAnswered: true });
  t.equal(status(r.response), 200);
  t.equal(answers(r.response).length, 1);
});

t.test("request-limits - framing: one Content-Length value however spelled, no Transfer-Encoding", async (t) => {
  t.doesNotThrow(() => checkFraming([], false));
  t.doesNotThrow(() => checkFraming(["39"], false));
  t.doesNotThrow(() => checkFraming(["5", "5"], false), "identical repeats");
  t.doesNotThrow(() => checkFraming(["5, 5", "005"], false), "a list of one value, leading zeros");
  for (const [cls, tes] of [[["0", "39"], false], [["0, 39"], false], [["5", ""], false], [["-1"], false], [["+5"], false], [["0x10"], false], [["1e3"], false], [[], true], [["0"], true]] as const) {
    t.throws(() => checkFraming(cls, tes), AmbiguousFramingError, `${JSON.stringify(cls)} te=${tes}`);
  }
});
