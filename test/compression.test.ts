import t from "tap";
import { gunzipSync } from "node:zlib";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast, type Quotecast } from "./helpers/quotecast.js";
import { rawRequest, RawSseClient } from "./helpers/sse-client.js";
import { subscribe } from "@quotecast/client";

// gzip streams and bandwidth budgets against a real nats-server and `quotecast serve`.

let nats: NatsServer;
let pub: TestPublisher;
let gz: Quotecast;
// One server per test that needs its own flags, all started together in t.before; each test stops
// its own when it ends.
let off: Quotecast;
let budgeted: Quotecast;
let draining: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
  [gz, off, budgeted, draining] = await Promise.all([
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--compression", "gzip", "--max-kbps", "64"] }),
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "50"] }),
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--max-kbps", "16"] }),
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--compression", "gzip", "--drain-ms", "300", "--heartbeat-ms", "200"] }),
  ]);
});

t.teardown(async () => {
  await Promise.all([gz?.stop(), off?.stop(), budgeted?.stop(), draining?.stop()]);
  await pub?.close();
  await nats?.cleanup();
});

t.test("compression - gzip when Accept-Encoding allows it, and each event decompresses as soon as it arrives", async (t) => {
  const c = RawSseClient.open(gz.port, "/quotes?symbols=GZA,GZB", { "Accept-Encoding": "br;q=1, gzip;q=0.8" });
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.equal(c.status, 200);
  t.equal(c.headers["content-encoding"], "gzip");
  t.equal(c.headers["vary"], "Accept-Encoding");
  t.equal(c.headers["content-type"], "text/event-stream");
  t.match(c.body, /^retry: \d+\n\nid: [0-9a-z]+-\d+\nevent: snapshot\ndata: \[\]\n\n/, "retry line, then the snapshot, decompressed");
  // One quote at a time: each must come out of the decompressor on its own, with nothing after it
  // to push it through.
  for (let i = 0; i < 5; i++) {
    const sent = Date.now();
    const q = pub.quote(i % 2 === 0 ? "GZA" : "GZB");
    await c.waitFor(() => c.quotes().some((e) => e.quotes.some((x) => x.seq === q.seq && x.sym === q.sym)), 3000, `quote ${i}`);
    const got = c.quotes().at(-1)!;
    t.same(got.quotes, [q], `event ${i} holds the quote unchanged`);
    t.ok(got.at - sent < 1000, `event ${i} decompressed ${got.at - sent} ms after its publish`);
  }
  t.notOk(c.events.some((e) => e.event === "gunzip-error"), "the stream is valid gzip");
  const compressed = c.wire.reduce((n, w) => n + w.bytes, 0);
  t.ok(compressed > 0);
});

t.test("compression - the client package in Node (fetch asks for gzip) gets each event at once", async (t) => {
  const encodings: (string | null)[] = [];
  const recording: typeof fetch = (input, init) =>
    globalThis.fetch(input, init).then((res) => {
      encodings.push(res.headers.get("content-encoding"));
      return res;
    });
  const sub = subscribe(gz.base, ["GZE", "GZF"], {}, { minBackoffMs: 50, maxBackoffMs: 500, fetch: recording });
  t.teardown(() => sub.close());
  const deadline = Date.now() + 5000;
  while (sub.status !== "live" && Date.now() < deadline) await sleep(20);
  t.equal(sub.status, "live");
  for (let i = 0; i < 4; i++) {
    const sent = Date.now();
    const q = pub.quote(i % 2 === 0 ? "GZE" : "GZF");
    while (sub.quotes.get(q.sym)?.seq !== q.seq && Date.now() - sent < 3000) await sleep(5);
    t.same(sub.quotes.get(q.sym), q, `quote ${i} merged ${Date.now() - sent} ms after its publish`);
    t.ok(Date.now() - sent < 1000, `quote ${i} within a second`);
  }
  t.same(encodings, ["gzip"], "one connection, and it was gzip");
});

t.test("compression - gzip;q=0, no Accept-Encoding, or a server with compression off: plain text", async (t) => {
  t.teardown(() => off.stop());
  const cases: [string, Quotecast, Record<string, string>, string | undefined][] = [
    ["gzip;q=0", gz, { "Accept-Encoding": "gzip;q=0, *;q=1" }, "Accept-Encoding"],
    ["no header", gz, {}, "Accept-Encoding"],
    ["compression off", off, { "Accept-Encoding": "gzip" }, undefined],
  ];
  for (const [name, server, headers, vary] of cases) {
    const c = RawSseClient.open(server.port, "/quotes?symbols=GZC", headers);
    await c.waitFor(() => c.events.length >= 1, 5000, `${name}: snapshot`);
    t.equal(c.headers["content-encoding"], undefined, `${name}: not compressed`);
    t.equal(c.headers["vary"], vary, `${name}: Vary`);
    t.match(c.body, /^retry: \d+\n\nid: /, `${name}: plain SSE`);
    c.close();
  }
});

t.test("compression - maxKbps that is not a non-negative number, or above --max-kbps, is refused with 400", async (t) => {
  for (const v of ["abc", "-1", "1e999", "0x10", "65", "64.5"]) {
    const r = await rawRequest(gz.port, "GET", `/quotes?symbols=AAPL&maxKbps=${encodeURIComponent(v)}`);
    t.equal(r.status, 400, `maxKbps=${v}`);
    t.match(JSON.parse(r.body).error, /maxKbps/, `maxKbps=${v}: the message names the parameter`);
  }
});

t.test("compression - a budgeted connection stays within its kbit/s, every symbol keeps coming, and a quiet feed leaves it current", async (t) => {
  const server = budgeted;
  t.teardown(() => server.stop());
  const syms = Array.from({ length: 20 }, (_, i) => `BW${i}`);
  const c = RawSseClient.open(server.port, `/quotes?symbols=${syms.join(",")}`);
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const latest = new Map<string, number>();
  const started = Date.now();
  // 20 symbols at 20 quotes/s each (~400 quotes/s, ~40 kB/s of JSON) for 11 s, against 2 kB/s.
  while (Date.now() - started < 11_000) {
    for (const sym of syms) latest.set(sym, pub.quote(sym, { bsz: 100, asz: 200, last: 101.5, vol: 123456 }).seq);
    await sleep(50);
  }
  const feedEnd = Date.now();
  await pub.flush();
  // Most it may carry in any 10 s: 16 kbit/s = 2,000 bytes/s. The count here is the chunked body
  // as it arrived (the server also charges chunk framing).
  let worst = 0;
  const w = c.wire;
  for (let i = 0, j = 0, sum = 0; i < w.length; i++) {
    sum += w[i]!.bytes;
    while (w[i]!.at - w[j]!.at >= 10_000) sum -= w[j++]!.bytes;
    worst = Math.max(worst, sum);
  }
  t.ok(worst <= 20_000, `worst 10 s: ${worst} bytes of 20,000`);
  const seen = new Set(c.quotes().filter((e) => e.at < feedEnd).flatMap((e) => e.quotes.map((q) => q.sym)));
  t.equal(seen.size, syms.length, "every symbol was delivered while the feed ran");
  // Quiet: it catches up with every latest value.
  await c.waitFor(
    () => {
      const got = new Map<string, number>();
      for (const e of c.quotes()) for (const q of e.quotes) got.set(q.sym, q.seq);
      return syms.every((s) => got.get(s) === latest.get(s));
    },
    30_000,
    "every latest value",
  );
  t.pass("every latest value arrived once the feed was quiet");
  const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  t.ok(metricValue(metrics, "quotecast_frames_held_back_total") > 0, "held-back frames are counted");
});

t.test("compression - drain ends a gzip stream with its trailer: the whole body is one valid gzip member", async (t) => {
  const server = draining;
  const c = RawSseClient.open(server.port, "/quotes?symbols=GZD", { "Accept-Encoding": "gzip" });
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const q = pub.quote("GZD");
  await c.waitFor(() => c.quotes().some((e) => e.quotes.some((x) => x.seq === q.seq)), 3000, "the quote");
  await sleep(500); // a heartbeat or two
  t.equal(await server.stop(), 0, "drained and exited 0");
  await c.waitFor(() => c.closed, 5000, "the stream's end");
  // gunzipSync checks the trailer's CRC-32 and length against everything the stream carried.
  const whole = gunzipSync(Buffer.concat(c.gzipped)).toString();
  t.equal(whole, c.body, "the whole body decompresses, trailer verified, to what was parsed incrementally");
  t.ok(c.comments.length >= 1, "heartbeats came through compressed");
  t.match(whole, /\n\nretry: \d+\n\n$/, "the drain's retry line is the last thing in it");
});
