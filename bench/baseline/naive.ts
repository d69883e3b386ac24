// The naive baseline: the SSE server most blog posts teach. node:http, a core NATS
// subscription, and every quote written as its own event to every subscriber of its symbol,
// at once, with res.write (no coalescing, no batching, no backpressure handling).
//
// Same URL and wire shape as quotecast so the same load generator drives it: `retry:`, one
// `event: snapshot` (the last value of each symbol: needed for the end-of-run check), then one
// `event: quotes` per quote holding a one-element array. /readyz, and /stats with counters.
//
//   node naive.js --port 8081 --nats nats://127.0.0.1:PORT

import { createServer, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8081" },
    host: { type: "string", default: "127.0.0.1" },
    nats: { type: "string", default: "nats://127.0.0.1:4222" },
  },
});

const latest = new Map<string, string>();
const subscribers = new Map<string, Set<ServerResponse>>();
const stats = { quotesReceived: 0, framesSent: 0, bytesSent: 0, connections: 0 };
let nextId = 1;
let connections = 0;

const nc = await connect({ servers: values.nats!.split(","), maxReconnectAttempts: -1 });
nc.subscribe("quotes.>", {
  callback: (err, msg) => {
    if (err) return;
    stats.quotesReceived++;
    const sym = msg.subject.slice(7);
    const json = msg.string();
    latest.set(sym, json);
    const subs = subscribers.get(sym);
    if (subs === undefined) return;
    const event = `id: ${nextId++}\nevent: quotes\ndata: [${json}]\n\n`;
    for (const res of subs) {
      res.write(event);
      stats.framesSent++;
      stats.bytesSent += event.length;
    }
  },
});

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/readyz" || url.pathname === "/healthz") return void res.writeHead(200).end("ok");
  if (url.pathname === "/stats") {
    stats.connections = connections;
    return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(stats));
  }
  if (url.pathname !== "/quotes") return void res.writeHead(404).end('{"error":"not found"}');
  const symbols = [...new Set((url.searchParams.get("symbols") ?? "").toUpperCase().split(",").filter(Boolean))];
  if (symbols.length === 0) return void res.writeHead(400).end('{"error":"symbols required"}');
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  const snapshot = symbols.map((s) => latest.get(s)).filter((q) => q !== undefined);
  res.write(`retry: 1000\n\nid: ${nextId++}\nevent: snapshot\ndata: [${snapshot.join(",")}]\n\n`);
  for (const s of symbols) {
    let set = subscribers.get(s);
    if (set === undefined) subscribers.set(s, (set = new Set()));
    set.add(res);
  }
  req.on("close", () => {
    for (const s of symbols) subscribers.get(s)?.delete(res);
  });
});
server.requestTimeout = 0;
server.keepAliveTimeout = 0;
server.on("connection", (sock) => {
  connections++;
  sock.on("close", () => connections--);
});
server.listen(Number(values.port), values.host);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
