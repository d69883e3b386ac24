// The baseline: the SSE server a competent engineer writes in an afternoon with node:http,
// the "any hand-written Node server" quotecast claims to beat. Deliberately plain, but not
// sabotaged: it already conflates per flush window (latest value per symbol), batches one
// event per connection per window, and never writes an empty event. What it does the
// ordinary way is the work per connection: every window it builds and JSON-serializes each
// connection's own event, and writes it with res.write.
//
// Same wire format as quotecast: `retry:`, one `event: snapshot`, then `event: quotes` with a
// JSON array of the changed quotes, `:` heartbeats. Ids are a counter. Also /readyz and a
// /stats JSON with the counters the bench reads (quotecast exposes them as Prometheus).
//
//   node node-sse-server.js --port 8081 --nats nats://127.0.0.1:4222 [--flush-ms 50]

import { createServer, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8081" },
    host: { type: "string", default: "127.0.0.1" },
    nats: { type: "string", default: "nats://127.0.0.1:4222" },
    "flush-ms": { type: "string", default: "50" },
    "heartbeat-ms": { type: "string", default: "15000" },
  },
});
const flushMs = Number(values["flush-ms"]);
const heartbeatMs = Number(values["heartbeat-ms"]);

interface Quote {
  sym: string;
  ts: number;
  seq: number;
  [field: string]: unknown;
}
interface Client {
  res: ServerResponse;
  symbols: string[];
  lastWrite: number;
}

const latest = new Map<string, Quote>();
let changed = new Set<string>();
const clients = new Set<Client>();
const stats = { quotesReceived: 0, framesSent: 0, bytesSent: 0, connections: 0 };
let nextId = 1;

const nc = await connect({ servers: values.nats!.split(","), maxReconnectAttempts: -1 });
// Core NATS, no JetStream: the usual first version. It misses the quotes published while it
// was down, which the bench does not exercise.
nc.subscribe("quotes.>", {
  callback: (err, msg) => {
    if (err) return;
    stats.quotesReceived++;
    try {
      const q = msg.json<Quote>();
      if (typeof q?.sym !== "string" || msg.subject !== "quotes." + q.sym) return;
      latest.set(q.sym, q);
      changed.add(q.sym);
    } catch {
      /* not JSON: drop */
    }
  },
});

function send(c: Client, chunk: string): void {
  // Backpressure is not handled: res.write buffers in memory, as most hand-written servers do.
  c.res.write(chunk);
  c.lastWrite = Date.now();
  stats.bytesSent += Buffer.byteLength(chunk);
}

setInterval(() => {
  if (changed.size === 0) return;
  const now = changed;
  changed = new Set();
  const id = nextId++;
  for (const c of clients) {
    const quotes: Quote[] = [];
    for (const s of c.symbols) if (now.has(s)) quotes.push(latest.get(s)!);
    if (quotes.length === 0) continue;
    send(c, `id: ${id}\nevent: quotes\ndata: ${JSON.stringify(quotes)}\n\n`);
    stats.framesSent++;
  }
}, flushMs);

setInterval(() => {
  const due = Date.now() - heartbeatMs + 1000;
  for (const c of clients) if (c.lastWrite < due) send(c, ":\n\n");
}, 1000);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/readyz" || url.pathname === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ready"}');
    return;
  }
  if (url.pathname === "/stats") {
    stats.connections = clients.size;
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(stats));
    return;
  }
  if (url.pathname !== "/quotes") {
    res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":"not found"}');
    return;
  }
  const symbols = [...new Set((url.searchParams.get("symbols") ?? "").toUpperCase().split(",").filter(Boolean))];
  if (symbols.length === 0) {
    res.writeHead(400, { "Content-Type": "application/json" }).end('{"error":"symbols required"}');
    return;
  }
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no" });
  const c: Client = { res, symbols, lastWrite: 0 };
  const snapshot = symbols.map((s) => latest.get(s)).filter((q) => q !== undefined);
  send(c, `retry: 1000\n\nid: ${nextId++}\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
  stats.framesSent++;
  clients.add(c);
  req.on("close", () => clients.delete(c));
});
// SSE responses never end: no socket timeout.
server.requestTimeout = 0;
server.listen(Number(values.port), values.host);

const shutdown = () => {
  for (const c of clients) c.res.end();
  server.close();
  void nc.close().finally(() => process.exit(0));
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
