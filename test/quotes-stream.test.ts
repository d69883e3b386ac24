import t from "tap";
import { EventSource } from "eventsource";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, startQuotecast, sleep, waitFor, type Quotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

// One private nats-server and one quotecast for the tests in this file that need no special flags.
let nats: NatsServer;
let qc: Quotecast;
let pub: TestPublisher;
/** --flush-ms 1000 for the burst test, started alongside `qc` and stopped at the end of that test. */
let slowFlush: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  [qc, slowFlush] = await Promise.all([
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "100", "--heartbeat-ms", "400"] }),
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "1000"] }),
  ]);
  pub = await TestPublisher.connect(nats.url);
});

t.teardown(async () => {
  await pub?.close();
  await Promise.all([qc?.stop(), slowFlush?.stop()]);
  await nats?.cleanup();
});

t.test("quotes - answers 200 with SSE headers, a retry line, then an empty snapshot", async (t) => {
  const c = RawSseClient.open(qc.port, "/quotes?symbols=NOQUOTE");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.equal(c.status, 200);
  t.equal(c.headers["content-type"], "text/event-stream");
  t.equal(c.headers["cache-control"], "no-cache");
  t.equal(c.headers["x-accel-buffering"], "no");
  t.match(c.body, /^retry: \d+\n\nid: [0-9a-z]+-\d+\nevent: snapshot\ndata: \[\]\n\n/, "retry line first, then the snapshot");
  t.equal(c.events[0]!.event, "snapshot");
  t.same(c.snapshot(), []);
});

t.test("quotes - the eventsource package gets the snapshot and then live quotes", async (t) => {
  const a = pub.quote("ESA");
  await pub.flush();
  await sleep(200);
  const es = new EventSource(`${qc.base}/quotes?symbols=esa,ESB,esa`);
  t.teardown(() => es.close());
  const got: { type: string; data: unknown[]; id: string }[] = [];
  const listener = (e: MessageEvent) => got.push({ type: e.type, data: JSON.parse(e.data), id: e.lastEventId });
  es.addEventListener("snapshot", listener);
  es.addEventListener("quotes", listener);
  await waitFor(() => got.length >= 1, 5000, "snapshot");
  t.same(got[0]!.data, [a], "the snapshot holds the latest quote, unchanged, and symbols are case-insensitive and deduplicated");
  const b = pub.quote("ESB", { note: "extra fields pass through" });
  await waitFor(() => got.length >= 2, 5000, "quotes event");
  t.equal(got[1]!.type, "quotes");
  t.same(got[1]!.data, [b]);
  t.match(got[1]!.id, /^[0-9a-z]+-\d+$/, "every event has an id");
});

t.test("quotes - hundreds of quotes inside one window arrive as one, the last", async (t) => {
  t.teardown(() => slowFlush.stop());
  const c = RawSseClient.open(slowFlush.port, "/quotes?symbols=CONF");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  pub.quote("CONF");
  await c.waitFor(() => c.quotes().length >= 1, 5000, "first quotes event");
  // A window has just begun: publish a burst well inside it.
  let last = 0;
  for (let i = 0; i < 300; i++) last = pub.quote("CONF").seq;
  await pub.flush();
  await c.waitFor(() => c.quotes().length >= 2, 5000, "the burst's event");
  await sleep(1200);
  const burst = c.quotes().slice(1);
  t.equal(burst.length, 1, "one event for the whole burst");
  t.same(burst[0]!.quotes.map((q) => [q.sym, q.seq]), [["CONF", last]], "holding only the last quote");
});

t.test("quotes - connections with the same symbols share each frame: built once, written to each", async (t) => {
  const paths = ["/quotes?symbols=SHR1,SHR2", "/quotes?symbols=SHR2,SHR1", "/quotes?symbols=SHR1,SHR2", "/quotes?symbols=SHR1"];
  const clients = paths.map((p) => RawSseClient.open(qc.port, p));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const before = await qc.metrics();
  pub.quote("SHR1");
  await pub.flush();
  for (const c of clients) await c.waitFor(() => c.quotes().length >= 1, 5000, "the quote");
  const after = await qc.metrics();
  const delta = (name: string) => metricValue(after, name) - metricValue(before, name);
  t.equal(delta("quotecast_frames_sent_total"), 4, "four frames written");
  t.equal(delta("quotecast_frames_built_total"), 2, "two built: one for the three SHR1,SHR2 connections, one for SHR1 alone");
  t.same(clients[0]!.quotes()[0]!.quotes, clients[1]!.quotes()[0]!.quotes, "the same quotes");
});

t.test("quotes - events never come more often than the flush window", async (t) => {
  const c = RawSseClient.open(qc.port, "/quotes?symbols=FAST1,FAST2");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const start = Date.now();
  while (Date.now() - start < 2000) {
    pub.quote("FAST1");
    pub.quote("FAST2");
    await sleep(2);
  }
  await pub.flush();
  await sleep(300);
  const events = c.quotes();
  // 2 s of continuous updates at --flush-ms 100: at most one event per 100 ms window.
  const span = events.at(-1)!.at - events[0]!.at;
  t.ok(events.length >= 10, `events flow (${events.length})`);
  t.ok(events.length <= Math.floor(span / 100) + 2, `${events.length} events in ${span} ms`);
  const seqs = events.flatMap((e) => e.quotes.filter((q) => q.sym === "FAST1").map((q) => q.seq));
  t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), "never reordered");
});

t.test("quotes - interval= slows one connection down, and a bad interval is refused", async (t) => {
  const c = RawSseClient.open(qc.port, "/quotes?symbols=IVL&interval=500");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const start = Date.now();
  while (Date.now() - start < 2000) {
    pub.quote("IVL");
    await sleep(5);
  }
  await sleep(600);
  const n = c.quotes().length;
  t.ok(n >= 3 && n <= 6, `${n} events in ~2.6 s at interval=500`);
  const bad = await fetch(`${qc.base}/quotes?symbols=IVL&interval=soon`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: /interval/ });
});

t.test("quotes - heartbeat comments fill the silence", async (t) => {
  const c = RawSseClient.open(qc.port, "/quotes?symbols=SILENT");
  t.teardown(() => c.close());
  await c.waitFor(() => c.comments.length >= 2, 3000, "two heartbeats");
  const gap = c.comments[1]! - c.comments[0]!;
  t.ok(gap <= 400 + 150, `heartbeats ${gap} ms apart at --heartbeat-ms 400`);
});

t.test("quotes - resume with Last-Event-ID or lastEventId gives exactly the changed symbols", async (t) => {
  for (const s of ["RA", "RB", "RC"]) pub.quote(s);
  await pub.flush();
  const first = RawSseClient.open(qc.port, "/quotes?symbols=RA,RB,RC");
  await first.waitFor(() => first.events.length >= 1, 5000, "snapshot");
  t.equal(first.snapshot().length, 3);
  const lastId = first.lastId()!;
  first.close();
  const rb = pub.quote("RB");
  pub.quote("ZZ");
  await pub.flush();
  await sleep(300);

  const byHeader = RawSseClient.open(qc.port, "/quotes?symbols=RA,RB,RC", { "Last-Event-ID": lastId });
  t.teardown(() => byHeader.close());
  await byHeader.waitFor(() => byHeader.events.length >= 1, 5000, "resumed snapshot");
  t.same(byHeader.snapshot(), [rb], "only RB changed");

  const byQuery = RawSseClient.open(qc.port, `/quotes?symbols=RA,RB,RC&lastEventId=${encodeURIComponent(lastId)}`);
  t.teardown(() => byQuery.close());
  await byQuery.waitFor(() => byQuery.events.length >= 1, 5000, "resumed snapshot");
  t.same(byQuery.snapshot(), [rb]);

  // Another server process on the same NATS: ids mean the same there.
  const other = await startQuotecast({ nats: nats.url });
  t.teardown(() => other.stop());
  const elsewhere = RawSseClient.open(other.port, "/quotes?symbols=RA,RB,RC", { "Last-Event-ID": lastId });
  t.teardown(() => elsewhere.close());
  await elsewhere.waitFor(() => elsewhere.events.length >= 1, 5000, "snapshot from the other server");
  t.same(elsewhere.snapshot(), [rb], "resume works against another process of the deployment");

  const unknown = RawSseClient.open(qc.port, "/quotes?symbols=RA,RB,RC", { "Last-Event-ID": "nonsense" });
  t.teardown(() => unknown.close());
  await unknown.waitFor(() => unknown.events.length >= 1, 5000, "snapshot");
  t.equal(unknown.snapshot().length, 3, "an unknown id gets the full snapshot");
});

t.test("quotes - a server started after the feed serves the full snapshot at once", async (t) => {
  const published = ["SNA", "SNB", "BRK.B", "BTC-USD"].map((s) => pub.quote(s));
  await pub.flush();
  const fresh = await startQuotecast({ nats: nats.url });
  t.teardown(() => fresh.stop());
  const c = RawSseClient.open(fresh.port, "/quotes?symbols=SNA,SNB,BRK.B,btc-usd");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.same(c.snapshot(), published);
});

t.test("quotes - the snapshot survives a restart of the server", async (t) => {
  const server = await startQuotecast({ nats: nats.url });
  const q = pub.quote("RESTART");
  await pub.flush();
  t.equal(await server.stop(), 0, "SIGTERM exits 0");
  const again = await startQuotecast({ nats: nats.url });
  t.teardown(() => again.stop());
  const c = RawSseClient.open(again.port, "/quotes?symbols=RESTART");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.same(c.snapshot(), [q]);
});

t.test("quotes - bad requests get a JSON error at once", async (t) => {
  const cases: [string, string, number, RegExp][] = [
    ["GET", "/quotes", 400, /symbols/],
    ["GET", "/quotes?symbols=", 400, /symbols/],
    ["GET", "/quotes?symbols=,,", 400, /symbols/],
    ["GET", "/quotes?symbols=AAPL,bad$sym", 400, /bad\$sym/],
    ["GET", "/quotes?symbols=" + "X".repeat(17), 400, /malformed/],
    ["GET", "/quotes?symbols=" + Array.from({ length: 501 }, (_, i) => `S${i}`).join(","), 400, /too many/],
    ["GET", "/nowhere", 404, /nowhere/],
    ["POST", "/quotes?symbols=AAPL", 405, /POST/],
    ["DELETE", "/healthz", 405, /DELETE/],
  ];
  for (const [method, path, status, message] of cases) {
    const res = await fetch(qc.base + path, { method });
    t.equal(res.status, status, `${method} ${path.slice(0, 40)} → ${status}`);
    t.match(res.headers.get("content-type"), /application\/json/);
    t.match(await res.json(), { error: message });
  }
  const health = await fetch(qc.base + "/healthz");
  t.equal(health.status, 200, "still serving");
});

t.test("quotes - invalid feed messages are dropped, counted, and never reach a client", async (t) => {
  const c = RawSseClient.open(qc.port, "/quotes?symbols=INV");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const before = await qc.metrics();
  const ts = Date.now();
  // One subject each: the stream keeps only the last message of a subject, so a burst on one
  // subject could be conflated by JetStream before the server reads it.
  const bad: [string, string | Uint8Array][] = [
    ["quotes.INV1", "not json"],
    ["quotes.INV2", JSON.stringify({ sym: "OTHER", ts, seq: 1 })],
    ["quotes.INV3", JSON.stringify({ sym: "INV3", seq: 1 })],
    ["quotes.INV4", JSON.stringify({ sym: "INV4", ts })],
    ["quotes.INV5", JSON.stringify({ sym: "INV5", ts, seq: 1, pad: "x".repeat(9000) })],
    ["quotes.INV", `{"sym":"INV","ts":${ts},"seq":1,"x":"a"}\nevent: quotes\ndata: [{"sym":"INV","hacked":true}]`],
    ["quotes.INV7", `{"sym":"INV7",\r"ts":${ts},"seq":1}`],
    ["quotes.INV8", "[1,2]"],
    ["quotes.inv", JSON.stringify({ sym: "inv", ts, seq: 1 })],
  ];
  for (const [subject, payload] of bad) pub.raw(subject, payload);
  await pub.flush();
  await sleep(200);
  const good = pub.quote("INV");
  await pub.flush();
  await c.waitFor(() => c.quotes().length >= 1, 5000, "the valid quote");
  await sleep(300);
  t.same(c.quotes().flatMap((e) => e.quotes), [good], "only the valid quote arrived");
  t.notMatch(c.body, /hacked/, "no injected event");
  const after = await qc.metrics();
  const invalid = (text: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith("quotecast_feed_invalid_messages_total{"))
      .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
  t.equal(invalid(after) - invalid(before), bad.length, "each invalid message counted once");
  t.match(after, /quotecast_feed_invalid_messages_total\{reason="line_break"\} [1-9]/);
  t.match(after, /quotecast_feed_invalid_messages_total\{reason="oversized"\} [1-9]/);
  t.equal((await fetch(qc.base + "/healthz")).status, 200, "the worker is still up");
});

t.test("quotes - a congested client does not delay a fast one, and catches up with the latest values", async (t) => {
  const server = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "20", "--slow-consumer-ms", "60000"] });
  t.teardown(() => server.stop());
  const stuck = RawSseClient.open(server.port, "/quotes?symbols=BIG1,BIG2");
  const fast = RawSseClient.open(server.port, "/quotes?symbols=BIG1,BIG2");
  t.teardown(() => {
    stuck.close();
    fast.close();
  });
  await stuck.waitFor(() => stuck.events.length >= 1, 5000, "snapshot");
  await fast.waitFor(() => fast.events.length >= 1, 5000, "snapshot");
  stuck.pause();
  // ~4 KB quotes at ~2,000/s: megabytes the stalled socket cannot take.
  const pad = "p".repeat(4000);
  let last: Record<string, number> = {};
  const start = Date.now();
  while (Date.now() - start < 3000) {
    for (let i = 0; i < 10; i++) {
      const a = pub.quote("BIG1", { pad });
      const b = pub.quote("BIG2", { pad });
      last = { BIG1: a.seq, BIG2: b.seq };
    }
    await sleep(5);
  }
  await pub.flush();
  await fast.waitFor(() => fast.quotes().some((e) => e.quotes.some((q) => q.sym === "BIG1" && q.seq === last.BIG1)), 5000, "fast client to see the last quote");
  const lat = fast.quotes().flatMap((e) => e.quotes.map((q) => e.at - q.ts));
  lat.sort((x, y) => x - y);
  const p99 = lat[Math.floor(lat.length * 0.99)]!;
  t.ok(p99 < 500, `fast client p99 publish-to-receive ${p99} ms with a stalled neighbour`);
  t.ok(stuck.body.length < fast.body.length / 2, `the stalled client was not sent everything (${stuck.body.length} vs ${fast.body.length} bytes)`);

  stuck.resume();
  await stuck.waitFor(
    () => {
      const seen = new Map<string, number>();
      for (const e of stuck.quotes()) for (const q of e.quotes) seen.set(q.sym, q.seq);
      return seen.get("BIG1") === last.BIG1 && seen.get("BIG2") === last.BIG2;
    },
    10_000,
    "the stalled client to catch up",
  );
  const seqs = stuck.quotes().flatMap((e) => e.quotes.filter((q) => q.sym === "BIG1").map((q) => q.seq));
  t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), "in order, latest value wins");
  t.pass("after reading again it has the latest value of every symbol");
});

t.test("quotes - --cors-origins lets the listed origins read the stream from a browser", async (t) => {
  const server = await startQuotecast({ nats: nats.url, args: ["--cors-origins", "https://board.example"] });
  t.teardown(() => server.stop());
  const allowed = RawSseClient.open(server.port, "/quotes?symbols=CORS", { Origin: "https://board.example" });
  const other = RawSseClient.open(server.port, "/quotes?symbols=CORS", { Origin: "https://evil.example" });
  t.teardown(() => {
    allowed.close();
    other.close();
  });
  await allowed.waitFor(() => allowed.events.length >= 1, 5000, "snapshot");
  await other.waitFor(() => other.status !== 0, 5000, "response");
  t.equal(allowed.headers["access-control-allow-origin"], "https://board.example");
  t.equal(allowed.headers["vary"], "Origin");
  t.equal(other.headers["access-control-allow-origin"], undefined, "an unlisted origin gets no CORS grant, so a browser will not let it read");
});
