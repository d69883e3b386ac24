// The `memory` figure: heap per connection when every connection subscribes to its own unique
// symbols, the worst case for the fan-out (no slot or group is shared). It drives the real
// Fanout (src/fanout) in this process: parses each subscription as the route does, opens it, and
// weighs the heap after full collections. No sockets: uWS's own per-socket memory is outside
// this count (a few KiB, in C++), as is the retry line each stream is sent.
//
//   npm run build && npx tsc -p tsconfig.bench.json && node --expose-gc build/bench/bench/memory.js [connections] [symbols]
//
// Issue 17 item 7 measured ~198 KiB RSS per connection for 1,000 x 500 unique symbols end to end;
// this splits the heap part: see docs/security.md for the figures and the budget they set.

import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { fileURLToPath } from "node:url";
import { LastValues } from "../src/ingest/last-values.js";
import { parseQuotesRequest } from "../src/http/quotes-request.js";
import type { Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";

export interface MemoryFigures {
  readonly connections: number;
  readonly symbolsPerConnection: number;
  /** The parsed symbol lists (their strings stay alive in the fan-out's slots). */
  readonly requestKiBPerConnection: number;
  /** Groups, slots and their bookkeeping. */
  readonly fanoutKiBPerConnection: number;
  readonly totalKiBPerConnection: number;
  readonly bytesPerSymbolSubscription: number;
  /** What is left once every connection was removed (a leak shows here). */
  readonly leftKiBPerConnection: number;
}

const sink: Sink = { write: () => true, close: () => undefined, end: () => undefined };

function collector(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  return () => {
    for (let i = 0; i < 4; i++) gc();
  };
}

export function measureMemory(connections: number, symbolsPerConnection: number): MemoryFigures {
  const gc = collector();
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const fanout = new Fanout(new LastValues(), { heartbeatMs: 15_000, heartbeatSweepMs: 1000, slowConsumerMs: 10_000 });
  fanout.markLoaded("mem", 0);
  const h0 = heap();
  const requests: (readonly string[])[] = [];
  for (let c = 0; c < connections; c++) {
    const query = "symbols=" + Array.from({ length: symbolsPerConnection }, (_, i) => `M${c.toString(36)}X${i.toString(36)}`).join(",");
    requests.push(parseQuotesRequest(query, "", { maxSymbols: symbolsPerConnection, flushMs: 50 }).symbols);
  }
  const h1 = heap();
  const conns = requests.map((symbols) => fanout.open(symbols, 50, undefined, sink, 0));
  const h2 = heap();
  // Emptied in place: a reassigned variable's old array can stay alive in a frame's registers.
  requests.length = 0;
  const h3 = heap();
  conns.forEach((conn) => fanout.remove(conn));
  conns.length = 0;
  const h4 = heap();
  const kib = (bytes: number) => +(bytes / connections / 1024).toFixed(1);
  return {
    connections,
    symbolsPerConnection,
    requestKiBPerConnection: kib(h1 - h0),
    fanoutKiBPerConnection: kib(h2 - h1),
    totalKiBPerConnection: kib(h3 - h0),
    bytesPerSymbolSubscription: Math.round((h3 - h0) / connections / symbolsPerConnection),
    leftKiBPerConnection: kib(h4 - h0),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [connections = 1000, symbols = 500] = process.argv.slice(2).map(Number);
  const f = measureMemory(connections, symbols);
  console.log(`memory: ${f.connections} connections x ${f.symbolsPerConnection} unique symbols, Node ${process.versions.node}`);
  console.log(`  request (parsed symbols)   ${f.requestKiBPerConnection} KiB per connection`);
  console.log(`  fan-out (groups, slots)    ${f.fanoutKiBPerConnection} KiB per connection`);
  console.log(`  total heap                 ${f.totalKiBPerConnection} KiB per connection, ${f.bytesPerSymbolSubscription} B per symbol subscription`);
  console.log(`  left after removing all    ${f.leftKiBPerConnection} KiB per connection`);
}
