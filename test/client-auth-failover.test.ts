import t, { type Test } from "tap";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { HttpStatusError, subscribe, type Status } from "@quotecast/client";
import { freePort, startNatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { startQuotecast, waitFor } from "./helpers/quotecast.js";

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

t.test("client - 401 retries with a fresh token from the callback, sent as Authorization: Bearer", async (t) => {
  const seen: (string | undefined)[] = [];
  const base = await httpServer(t, (req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== "Bearer fresh-2") {
      res.writeHead(401, { "Content-Type": "application/json" }).end('{"error":"token expired"}');
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write('retry: 1000\n\nid: a-1\nevent: snapshot\ndata: [{"sym":"AUT","ts":1,"seq":1}]\n\n');
  });
  let calls = 0;
  const errors: Error[] = [];
  const sub = subscribe(base, ["AUT"], { onError: (e) => errors.push(e) }, { token: () => `fresh-${++calls}`, minBackoffMs: 20, maxBackoffMs: 50 });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live", 5000, "live with the second token");
  t.same(seen, ["Bearer fresh-1", "Bearer fresh-2"], "the callback is asked before each attempt");
  t.equal((errors[0] as HttpStatusError).status, 401);
  t.equal(errors[0]!.message, "HTTP 401: token expired", "the server's message, reported once");
  t.equal(errors.length, 1);
  t.equal(sub.quotes.get("AUT")?.seq, 1);
});

t.test("client - 401 without a token callback closes", async (t) => {
  let requests = 0;
  const base = await httpServer(t, (_req, res) => {
    requests++;
    res.writeHead(401, { "Content-Type": "application/json" }).end('{"error":"missing token"}');
  });
  const statuses: Status[] = [];
  const sub = subscribe(base, ["AUT"], { onStatus: (s) => statuses.push(s) }, { minBackoffMs: 20 });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "closed", 5000, "closed");
  t.same(statuses, ["connecting", "closed"]);
  t.equal(requests, 1, "not retried");
});

t.test("client - several base URLs: a dead node is skipped for the next one", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "20"] });
  t.teardown(() => qc.stop());
  const q = pub.quote("FOV");
  await pub.flush();
  const dead = `http://127.0.0.1:${await freePort()}`;
  const urls: (string | undefined)[] = [];
  const sub = subscribe([dead, qc.base], ["FOV"], { onStatus: (_s, d) => urls.push(d?.url) }, { minBackoffMs: 20, maxBackoffMs: 50 });
  t.teardown(() => sub.close());
  await waitFor(() => sub.status === "live" && sub.quotes.get("FOV")?.seq === q.seq, 5000, "live on the second node");
  t.equal(sub.url, qc.base);
  t.equal(urls[0], dead, "tried the first URL first");
});
