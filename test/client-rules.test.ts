import t, { type Test } from "tap";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { SignJWT } from "jose";
import { createClient, FrameError, HttpStatusError, subscribe, type Quote, type Status } from "@quotecast/client";
import { freePort, startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { sleep, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";

// The client's rules, each with a test that fails without it: handlers that throw, frames that are
// not arrays, latency only for news, field deltas, and the HTTP answers 429, 403 and 401.

/** A plain HTTP server on a free port, closed when the test ends. */
async function httpServer(t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${port}`;
}

/** An SSE answer whose events the test writes one by one. */
function sse(res: ServerResponse): (text: string) => void {
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  res.write("retry: 1000\n\n");
  return (text) => res.write(text);
}

t.test("client - a throwing onQuotes handler or store listener does not stop the stream", async (t) => {
  let write: ((text: string) => void) | undefined;
  let requests = 0;
  const base = await httpServer(t, (_req, res) => {
    requests++;
    write = sse(res);
    write('id: 1\nevent: snapshot\ndata: [{"sym":"THR","ts":1,"seq":1}]\n\n');
  });
  const errors: Error[] = [];
  const sub = subscribe(base, ["THR"], {
    onQuotes: () => {
      throw new Error("handler bug");
    },
    onError: (e) => errors.push(e),
  });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live", 5000, "live");
  write!('id: 2\nevent: quotes\ndata: [{"sym":"THR","ts":2,"seq":2}]\n\n');
  write!('id: 3\nevent: quotes\ndata: [{"sym":"THR","ts":3,"seq":3}]\n\n');
  await waitFor(() => sub.quotes.get("THR")?.seq === 3, 3000, "later events still applied");
  t.equal(sub.status, "live");
  t.equal(requests, 1, "no reconnect");
  t.same(errors.map((e) => e.message), ["handler bug", "handler bug", "handler bug"], "each throw reported through onError");

  const clientErrors: Error[] = [];
  const client = createClient(base, { onError: (e) => clientErrors.push(e) });
  t.teardown(() => client.close());
  const s = client.subscribe(["THR"], () => {
    throw new Error("listener bug");
  });
  s.subscribe((snap) => {
    if (snap.quotes.THR) throw new Error("store listener bug");
  });
  await waitFor(() => s.getSnapshot().quotes.THR?.seq === 1, 5000, "client snapshot");
  write!('id: 4\nevent: quotes\ndata: [{"sym":"THR","ts":4,"seq":4}]\n\n');
  await waitFor(() => s.getSnapshot().quotes.THR?.seq === 4, 3000, "client still updated after its listeners threw");
  t.ok(clientErrors.some((e) => e.message === "listener bug") && clientErrors.some((e) => e.message === "store listener bug"), "reported through onError");
});

t.test("client - a frame that is not an array mid-stream is skipped and reported; the stream goes on", async (t) => {
  let requests = 0;
  let write: ((text: string) => void) | undefined;
  const base = await httpServer(t, (_req, res) => {
    requests++;
    write = sse(res);
    write('id: 1\nevent: snapshot\ndata: [{"sym":"NAR","ts":1,"seq":1}]\n\n');
  });
  const errors: Error[] = [];
  const statuses: Status[] = [];
  const sub = subscribe(base, ["NAR"], { onError: (e) => errors.push(e), onStatus: (s) => statuses.push(s) });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live", 5000, "live");
  write!('id: 2\nevent: quotes\ndata: {"sym":"NAR","ts":2,"seq":2}\n\n');
  write!("id: 3\nevent: quotes\ndata: not json\n\n");
  write!('id: 4\nevent: quotes\ndata: [{"sym":"NAR","ts":4,"seq":4}]\n\n');
  await waitFor(() => sub.quotes.get("NAR")?.seq === 4, 3000, "the next good frame applied");
  t.equal(errors.length, 2);
  t.ok(errors.every((e) => e instanceof FrameError), "FrameError for each bad frame");
  t.match(errors[0]!.message, /not a JSON array/);
  t.match(errors[1]!.message, /not JSON/);
  t.equal(requests, 1, "no reconnect for a bad frame");
  t.same(statuses, ["connecting", "live"]);
  t.equal(sub.lastEventId, "4");
});

t.test("client - onLatency is called for update quotes only, never for snapshot quotes", async (t) => {
  let write: ((text: string) => void) | undefined;
  const base = await httpServer(t, (_req, res) => {
    write = sse(res);
    // A snapshot holds last-known values: a day-old ts here is not a day of latency.
    write(`id: 1\nevent: snapshot\ndata: [{"sym":"LAT","ts":${Date.now() - 86_400_000},"seq":1},{"sym":"LAU","ts":1,"seq":1}]\n\n`);
  });
  const latencies: number[] = [];
  const sub = subscribe(base, ["LAT", "LAU"], { onLatency: (ms) => latencies.push(ms) });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live", 5000, "live");
  await sleep(50);
  t.same(latencies, [], "none for the snapshot");
  write!(`id: 2\nevent: quotes\ndata: [{"sym":"LAT","ts":${Date.now() - 5},"seq":2}]\n\n`);
  await waitFor(() => latencies.length === 1, 3000, "one latency for one update quote");
  t.ok(latencies[0]! >= 5 && latencies[0]! < 5000, `${latencies[0]} ms`);
});

t.test("client - event: delta is merged into a new quote object; delta=1 is asked for unless delta: false", async (t) => {
  const urls: string[] = [];
  let write: ((text: string) => void) | undefined;
  const base = await httpServer(t, (req, res) => {
    urls.push(req.url ?? "");
    write = sse(res);
    write('id: 1\nevent: snapshot\ndata: [{"sym":"DLT","ts":1,"seq":1,"bid":10,"ask":11,"halt":true}]\n\n');
  });
  const client = createClient(base);
  t.teardown(() => client.close());
  const s = client.subscribe(["DLT"]);
  await waitFor(() => s.getSnapshot().quotes.DLT?.seq === 1, 5000, "snapshot");
  const before = s.getSnapshot().quotes.DLT!;
  write!('id: 2\nevent: delta\ndata: [{"sym":"DLT","ts":2,"seq":2,"bid":10.5,"halt":null}]\n\n');
  await waitFor(() => s.getSnapshot().quotes.DLT?.seq === 2, 3000, "delta applied");
  const after = s.getSnapshot().quotes.DLT!;
  t.same(after, { sym: "DLT", ts: 2, seq: 2, bid: 10.5, ask: 11 }, "merged: changed fields replaced, unchanged kept, null deleted");
  t.not(after, before, "a new object");
  t.same(before, { sym: "DLT", ts: 1, seq: 1, bid: 10, ask: 11, halt: true }, "the previous quote is untouched");
  write!('id: 3\nevent: quotes\ndata: [{"sym":"DLT","ts":3,"seq":3,"bid":9}]\n\n');
  await waitFor(() => s.getSnapshot().quotes.DLT?.seq === 3, 3000, "a full quotes event still replaces");
  t.same(s.getSnapshot().quotes.DLT, { sym: "DLT", ts: 3, seq: 3, bid: 9 });
  t.match(urls[0], /[?&]delta=1(&|$)/, "delta=1 by default");
  const plain = createClient(base, { delta: false });
  t.teardown(() => plain.close());
  plain.subscribe(["DLT"]);
  await waitFor(() => urls.length === 2, 3000, "second client's request");
  t.notMatch(urls[1], /delta/, "no delta parameter with delta: false");
});

t.test("client - 429 is retried no sooner than its Retry-After", async (t) => {
  const at: number[] = [];
  const base = await httpServer(t, (_req, res) => {
    at.push(Date.now());
    if (at.length === 1) {
      res.writeHead(429, { "Content-Type": "application/json", "Retry-After": "1" }).end('{"error":"slow down"}');
      return;
    }
    sse(res)('id: 1\nevent: snapshot\ndata: [{"sym":"TMR","ts":1,"seq":1}]\n\n');
  });
  const errors: Error[] = [];
  const sub = subscribe(base, ["TMR"], { onError: (e) => errors.push(e) }, { minBackoffMs: 20, maxBackoffMs: 50 });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live", 5000, "live after the retry");
  t.equal((errors[0] as HttpStatusError).status, 429);
  t.equal(errors[0]!.message, "HTTP 429: slow down");
  t.ok(at[1]! - at[0]! >= 1000, `retried ${at[1]! - at[0]!} ms later (Retry-After: 1, backoff at most 50 ms)`);
});

t.test("client - against a real server with authentication: 403 closes at once, 401 retries with a fresh token", async (t) => {
  const secret = "an-hs256-secret-of-at-least-32-bytes!";
  const key = new TextEncoder().encode(secret);
  const nats: NatsServer = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const qc: Quotecast = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "20"], env: { QUOTECAST_AUTH_HS256_SECRET: secret } });
  t.teardown(() => qc.stop());
  const token = (symbols: string[], expiresInS: number) =>
    new SignJWT({ symbols }).setProtectedHeader({ alg: "HS256" }).setSubject("user-1").setExpirationTime(Math.floor(Date.now() / 1000) + expiresInS).sign(key);
  const q = pub.quote("ENT") as Quote;
  await pub.flush();

  // 403: the token is valid but not entitled to NOT: asking again will not change that.
  let asked403 = 0;
  const errors403: Error[] = [];
  const statuses: Status[] = [];
  const denied = subscribe(qc.base, ["ENT", "NOT"], { onError: (e) => errors403.push(e), onStatus: (s) => statuses.push(s) }, {
    token: () => (asked403++, token(["ENT"], 60)),
    minBackoffMs: 20,
    maxBackoffMs: 50,
  });
  t.teardown(() => denied.close());
  await waitFor(() => denied.status === "closed", 5000, "closed");
  await sleep(200);
  t.equal(asked403, 1, "one attempt: a 403 is not retried, even with a token callback");
  t.equal((errors403[0] as HttpStatusError).status, 403);
  t.match(errors403[0]!.message, /NOT/, "the server's message names the symbol");
  t.same(statuses, ["connecting", "closed"]);

  // 401: the first token has expired; the callback is asked again and the fresh one is accepted.
  const issued: string[] = [];
  const errors401: Error[] = [];
  const sub = subscribe(qc.base, ["ENT"], { onError: (e) => errors401.push(e) }, {
    token: async () => {
      const tok = await token(["ENT"], issued.length === 0 ? -60 : 60);
      issued.push(tok);
      return tok;
    },
    minBackoffMs: 20,
    maxBackoffMs: 50,
  });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live" && sub.quotes.get("ENT")?.seq === q.seq, 5000, "live with the fresh token");
  t.equal(issued.length, 2, "the callback was asked again after the 401");
  t.equal((errors401[0] as HttpStatusError).status, 401);
  t.match(errors401[0]!.message, /expired/);

  // The same through createClient: the closed connection's reason reaches every subscription.
  const client = createClient(qc.base, { token: () => token(["ENT"], 60) });
  t.teardown(() => client.close());
  const s = client.subscribe(["NOT"]);
  await waitFor(() => s.getSnapshot().status === "closed", 5000, "closed");
  t.match(s.getSnapshot().reason, /HTTP 403: .*NOT/);
});
