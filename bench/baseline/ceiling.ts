// The ceiling: a bare uWebSockets.js program that, every flush window, writes one prebuilt
// frame of quotecast's size to every connection. No NATS, no parsing, no conflation, no
// per-connection state beyond a congestion flag: the most this machine and this load
// generator can do. quotecast's frames/s over this one's is the efficiency figure.
//
// The frame holds `--quotes` quotes of ~130 bytes, stamped with the ages a conflated frame's
// latest values have (spread evenly over the time between two updates of a symbol, at most one
// window), so its publish→receive latency has the same coalescing delay quotecast's has. Same URL and wire shape as quotecast (`retry:`, `event: snapshot`,
// `event: quotes`), /readyz, and /stats with the counters the bench reads.
//
//   node ceiling.js --port 8082 --flush-ms 50 --quotes 20

import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import type * as UWS from "uWebSockets.js";
import { quote } from "../loadgen/quote.js";

const uws = createRequire(import.meta.url)("uWebSockets.js") as typeof UWS;
const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8082" },
    host: { type: "string", default: "127.0.0.1" },
    "flush-ms": { type: "string", default: "50" },
    quotes: { type: "string", default: "20" },
    "period-ms": { type: "string" },
  },
});
const flushMs = Number(values["flush-ms"]);
const perFrame = Number(values.quotes);
// How often each symbol changes: a conflated frame holds each symbol's latest value, which is
// at most this old (or a window old, when symbols change less often than that).
const ageSpan = Math.min(flushMs, Number(values["period-ms"] ?? flushMs));

interface Conn {
  res: UWS.HttpResponse;
  congested: boolean;
}
const conns = new Set<Conn>();
const stats = { quotesReceived: 0, framesSent: 0, bytesSent: 0, connections: 0 };
const epoch = Date.now().toString(36);
let seq = 0;

let frame: Buffer = Buffer.alloc(0);
let current: Conn | null = null;
// One closure for every corked write: nothing is allocated per connection per frame.
const corkedWrite = () => {
  if (!current!.res.write(frame)) current!.congested = true;
};

setInterval(() => {
  if (perFrame === 0) return; // idle scenario: connections only
  const now = Date.now();
  const quotes: string[] = [];
  for (let i = 0; i < perFrame; i++) quotes.push(quote(`BN${String(i).padStart(4, "0")}`, seq, Math.round(now - ((i + 0.5) * ageSpan) / perFrame)));
  frame = Buffer.from(`id: ${epoch}-${++seq}\nevent: quotes\ndata: [${quotes.join(",")}]\n\n`);
  for (const c of conns) {
    // The same simple backpressure rule as quotecast: a congested socket is skipped until
    // uWS says it drained.
    if (c.congested) continue;
    current = c;
    // Writes from a timer are outside any uWS callback: cork, one syscall per write.
    c.res.cork(corkedWrite);
    stats.framesSent++;
    stats.bytesSent += frame.length;
  }
  current = null;
}, flushMs);

uws
  .App()
  .get("/readyz", (res) => void res.end("ok"))
  .get("/stats", (res) => {
    stats.connections = conns.size;
    res.writeHeader("Content-Type", "application/json").end(JSON.stringify(stats));
  })
  .get("/quotes", (res) => {
    const c: Conn = { res, congested: false };
    // uWS: a response kept open must have onAborted before the handler returns.
    res.onAborted(() => conns.delete(c));
    res.onWritable(() => {
      c.congested = false;
      return true;
    });
    res.writeStatus("200 OK").writeHeader("Content-Type", "text/event-stream").writeHeader("Cache-Control", "no-cache");
    res.write(`retry: 1000\n\nid: ${epoch}-${seq}\nevent: snapshot\ndata: []\n\n`);
    conns.add(c);
  })
  .listen(values.host!, Number(values.port), (token) => {
    if (!token) {
      process.stderr.write(`ceiling: cannot listen on ${values.host}:${values.port}\n`);
      process.exit(1);
    }
  });
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
