import t from "tap";
import { createServer, type Socket } from "node:net";
import { HttpStatusError, subscribe, type Quote, type Status, type Subscription } from "@quotecast/client";
import { freePort, startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

// The SDK (@quotecast/client, packages/client) in Node against a real nats-server and real `quotecast serve` processes,
// through every way a user loses a connection. Each case ends with the SDK's merged map equal to
// the latest quote published for every subscribed symbol.

let nats: NatsServer;
let pub: TestPublisher;
/** --flush-ms 20, for the tests that neither stop nor limit their server (each uses its own symbols). */
let shared: Quotecast;
/** --max-connections 1, for the 503 test only. */
let capped: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
  [shared, capped] = await Promise.all([
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "20"] }),
    startQuotecast({ nats: nats.url, args: ["--flush-ms", "20", "--max-connections", "1"] }),
  ]);
});

t.teardown(async () => {
  await Promise.all([shared?.stop(), capped?.stop()]);
  await pub?.close();
  await nats?.cleanup();
});

/** Latest published quote per symbol, as the test publisher sent it. */
class Published {
  readonly latest = new Map<string, Quote>();
  quote(sym: string): Quote {
    const q = pub.quote(sym) as Quote;
    this.latest.set(sym, q);
    return q;
  }
  /** The SDK's map, compared as plain objects with what was published for `symbols`. */
  matches(sub: Subscription, symbols: readonly string[]): boolean {
    if (sub.quotes.size !== symbols.length) return false;
    return symbols.every((s) => JSON.stringify(sub.quotes.get(s)) === JSON.stringify(this.latest.get(s)));
  }
  expected(symbols: readonly string[]): Record<string, Quote | undefined> {
    return Object.fromEntries(symbols.map((s) => [s, this.latest.get(s)]));
  }
}

interface Recorder {
  statuses: { status: Status; reason?: string; retryInMs?: number }[];
  errors: Error[];
  latencies: number[];
  snapshots: number;
}

function track(url: string | string[], symbols: readonly string[], opts: Parameters<typeof subscribe>[3] = {}): { sub: Subscription; rec: Recorder } {
  const rec: Recorder = { statuses: [], errors: [], latencies: [], snapshots: 0 };
  const sub = subscribe(
    url,
    symbols,
    {
      onStatus: (status, d) => rec.statuses.push({ status, ...d }),
      onError: (err) => rec.errors.push(err),
      onLatency: (ms) => rec.latencies.push(ms),
      onQuotes: (_q, kind) => {
        if (kind === "snapshot") rec.snapshots++;
      },
    },
    { minBackoffMs: 50, maxBackoffMs: 500, ...opts },
  );
  return { sub, rec };
}

async function untilMatches(sub: Subscription, pubd: Published, symbols: readonly string[], what: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => sub.status === "live" && pubd.matches(sub, symbols), timeoutMs, what);
}

t.test("client - snapshot then live quotes, with latency per quote", async (t) => {
  const qc = shared;
  const p = new Published();
  const syms = ["CLA", "CLB"];
  p.quote("CLA");
  await pub.flush();
  const { sub, rec } = track(qc.base, ["cla", "CLB", "cla"]);
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live", 5000, "live");
  t.equal(rec.statuses[0]!.status, "connecting", "connecting first");
  t.same(Object.fromEntries(sub.quotes), p.expected(["CLA"]), "snapshot merged; symbols normalised");
  for (let i = 0; i < 5; i++) p.quote("CLA"), p.quote("CLB");
  await untilMatches(sub, p, syms, "map equal to the latest published");
  t.ok(rec.latencies.length >= 1, "latency reported for quotes events");
  t.ok(rec.latencies.every((ms) => ms >= 0 && ms < 5000), `latencies are sane: ${rec.latencies.slice(0, 5).join(", ")}`);
  t.match(sub.lastEventId, /^[0-9a-z]+-\d+$/, "last event id tracked");
  t.same(rec.errors, [], "no error");
  sub.close();
  t.equal(sub.status, "closed");
});

t.test("client - reconnects after 503 + Retry-After once a connection slot frees up", async (t) => {
  const qc = capped;
  const p = new Published();
  const syms = ["CLC", "CLD"];
  p.quote("CLC");
  const holder = RawSseClient.open(qc.port, "/quotes?symbols=CLC");
  t.teardown(() => holder.close());
  await holder.waitFor(() => holder.events.length >= 1, 5000, "the holder's snapshot");
  const { sub, rec } = track(qc.base, syms);
  t.teardown(() => sub.close());
  await waitFor(() => rec.statuses.some((s) => s.status === "reconnecting"), 5000, "refused and reconnecting");
  const refused = rec.errors.find((e): e is HttpStatusError => e instanceof HttpStatusError);
  t.equal(refused?.status, 503, "the 503 is reported through onError");
  t.match(refused?.message, /HTTP 503: .+/, "with the server's message");
  const wait = rec.statuses.find((s) => s.status === "reconnecting")!.retryInMs!;
  t.ok(wait >= 5000, `Retry-After (5 s or more for a full server) is a lower bound: waits ${wait} ms`);
  p.quote("CLC");
  p.quote("CLD");
  holder.close();
  p.quote("CLD");
  await untilMatches(sub, p, syms, "live after the slot freed, map equal to the latest published", 25_000);
});

t.test("client - drain: resumes on a new server on the same port", async (t) => {
  const args = ["--flush-ms", "20", "--drain-ms", "300"];
  const qc = await startQuotecast({ nats: nats.url, args });
  const p = new Published();
  const syms = ["CLE", "CLF"];
  p.quote("CLE");
  p.quote("CLF");
  const { sub, rec } = track(qc.base, syms);
  t.teardown(() => sub.close());
  await untilMatches(sub, p, syms, "first values");
  const idBefore = sub.lastEventId;
  t.equal(await qc.stop(), 0, "drained and exited 0");
  await waitFor(() => sub.status === "reconnecting", 5000, "reconnecting after the drain");
  p.quote("CLE");
  await pub.flush();
  const qc2 = await startQuotecast({ nats: nats.url, args, port: qc.port });
  t.teardown(() => qc2.stop());
  p.quote("CLF");
  await untilMatches(sub, p, syms, "map equal to the latest published after the drain");
  t.not(sub.lastEventId, idBefore, "a newer event id");
  t.ok(rec.snapshots >= 2, "a second snapshot (the resume)");
  // The first backoff here is 50 ms; the drain sends `retry:` of 500-2500 ms.
  const first = rec.statuses.find((s) => s.status === "reconnecting");
  t.ok((first?.retryInMs ?? 0) >= 500, `the drain's retry: was honoured as a lower bound (${first?.retryInMs} ms)`);
});

t.test("client - SIGKILL of the whole server, then a restart on the same port", async (t) => {
  const args = ["--flush-ms", "20"];
  const qc = await startQuotecast({ nats: nats.url, args });
  const p = new Published();
  const syms = ["CLG", "CLH", "CLI"];
  for (const s of syms) p.quote(s);
  const { sub } = track(qc.base, syms);
  t.teardown(() => sub.close());
  await untilMatches(sub, p, syms, "first values");
  await qc.kill();
  await waitFor(() => sub.status === "reconnecting", 5000, "reconnecting after the kill");
  p.quote("CLG");
  p.quote("CLH");
  await pub.flush();
  const qc2 = await startQuotecast({ nats: nats.url, args, port: qc.port });
  t.teardown(() => qc2.stop());
  p.quote("CLH");
  await untilMatches(sub, p, syms, "map equal to the latest published after the restart");
});

t.test("client - setSymbols keeps kept symbols, drops removed ones, adds new ones with their snapshot", async (t) => {
  const qc = shared;
  const p = new Published();
  for (const s of ["CLJ", "CLK", "CLL"]) p.quote(s);
  await pub.flush();
  const { sub } = track(qc.base, ["CLJ", "CLK"]);
  t.teardown(() => sub.close());
  await untilMatches(sub, p, ["CLJ", "CLK"], "first values");
  const kept = sub.quotes.get("CLK");
  sub.setSymbols(["CLK", "CLL"]);
  t.notOk(sub.quotes.has("CLJ"), "a removed symbol is dropped at once");
  t.equal(sub.quotes.get("CLK"), kept, "a kept symbol keeps its quote through the switch");
  // CLL did not change since the last event id: only a full snapshot brings it.
  await untilMatches(sub, p, ["CLK", "CLL"], "the added symbol's value arrives");
  p.quote("CLK");
  p.quote("CLJ");
  await untilMatches(sub, p, ["CLK", "CLL"], "kept symbol still live");
  t.notOk(sub.quotes.has("CLJ"), "the removed symbol stays out");
});

t.test("client - 400 is reported and closes; it does not retry", async (t) => {
  const qc = shared;
  const { sub, rec } = track(qc.base, ["OK", "NOT A SYMBOL!"]);
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "closed", 5000, "closed");
  const err = rec.errors[0] as HttpStatusError;
  t.equal(err.status, 400);
  t.match(err.message, /malformed symbol/);
  t.notOk(rec.statuses.some((s) => s.status === "reconnecting"), "no retry");
});

t.test("client - a silent stream goes stale and is reconnected", async (t) => {
  // A server that answers like quotecast and then says nothing: no event, no heartbeat.
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", () => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n");
      socket.write('retry: 100\n\nid: x-1\nevent: snapshot\ndata: [{"sym":"SIL","ts":1,"seq":1}]\n\n');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const started = Date.now();
  const { sub, rec } = track(`http://127.0.0.1:${port}`, ["SIL"], { staleMs: 400 });
  t.teardown(() => sub.close());
  await waitFor(() => connections >= 2, 5000, "a second connection");
  t.ok(Date.now() - started >= 400, "not before staleMs");
  const stale = rec.statuses.find((s) => s.status === "stale");
  t.ok(stale, "status went stale");
  t.match(stale?.reason, /no event or heartbeat for \d+ ms/);
  await waitFor(() => sub.status === "live", 5000, "live again");
  t.equal(sub.quotes.get("SIL")?.seq, 1);
});
