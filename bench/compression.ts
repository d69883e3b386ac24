// The compression scenario: what gzip costs and saves in quotecast's fan-out core, against the
// same core uncompressed and against the alternative it did not take (one zlib stream per
// connection). In process like `alloc`, no sockets: the real Fanout and GzipSink at the bench's
// load, into sinks that read every byte as uWS's copy would. Each case runs in its own child
// process (node --expose-gc) so its memory figures are its own.
//
//   npx tsc -p tsconfig.bench.json && node build/bench/bench/compression.js [options]
//     --connections N   connections (default 5000)
//     --workloads L     own (each its own 20 of 200 symbols), shared (one of 50 lists of 20); default both
//     --modes L         off, gzip (shared blocks), stream1 / stream6 (a zlib stream per connection:
//                       level 1 windowBits 10 memLevel 1 / level 6 windowBits 12 memLevel 2); default all
//     --ticks N         ticks measured, after as many to warm up (default 200)
//     --rate N          feed, quotes/s (default 2000); --flush-ms N (default 50)
//     --quotes Q        bench: the bench publisher's quotes (bench/loadgen/quote.ts, default);
//                       simulator: `quotecast feed`'s generator (its prices, sizes and popularity)
//     --no-write        print only (else a line per case in bench/results/compression.jsonl)
//     --e2e             instead: real quotecast, NATS, publisher and load generator (bench/lib/run-one.ts),
//                       off against gzip (clients send Accept-Encoding: gzip and decompress each
//                       stream as it comes), per workload: frames/s, server CPU, bytes, p99; and
//                       the idle RSS per connection (rate 0) of both. --measure S (default 8)
//
// Figures per case: wire bytes per frame and per delivered quote, their share of the uncompressed
// bytes, CPU per frame written (user+system of the whole process over the measured ticks, feed
// included, so compare with `off`), and memory per connection (heap+external and RSS growth,
// after a forced GC) idle (snapshot sent) and busy (after the ticks).

import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import zlib from "node:zlib";
import { LastValues } from "../src/ingest/last-values.js";
import type { Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";
import { GzipSink } from "../src/fanout/gzip-sink.js";
import { QuoteGenerator } from "../src/simulator/quote-generator.js";
import { quote } from "./loadgen/quote.js";
import { benchSymbols } from "./loadgen/symbols.js";
import { cleanupAll, installCleanupHooks } from "./lib/processes.js";
import { machine } from "./lib/report.js";
import { runOne, subscriptionPaths, type Figures, type RunSpec } from "./lib/run-one.js";

type Mode = "off" | "gzip" | "stream1" | "stream6";
type Workload = "own" | "shared";

interface Spec {
  readonly mode: Mode;
  readonly workload: Workload;
  readonly connections: number;
  readonly rate: number;
  readonly flushMs: number;
  readonly ticks: number;
  readonly quotes?: "bench" | "simulator";
}

/** Reads every byte of a chunk (as the kernel copy would) and keeps none. */
class ReadingSink implements Sink {
  bytes = 0;
  checksum = 0;
  write(chunk: Uint8Array | string): boolean {
    if (typeof chunk === "string") {
      this.bytes += Buffer.byteLength(chunk);
      return true;
    }
    this.bytes += chunk.length;
    this.checksum = (this.checksum + chunk[chunk.length >> 1]!) | 0;
    return true;
  }
  close(): void {}
  end(): void {}
}

interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
}

const STREAM_OUT = Buffer.allocUnsafeSlow(256 * 1024);

/** The alternative: one zlib deflate stream per connection, sync-flushed per write. */
class StreamSink implements Sink {
  readonly #stream: zlib.DeflateRaw;
  readonly #handle: ZlibHandle;
  readonly #state: Uint32Array;
  constructor(
    readonly inner: ReadingSink,
    level: number,
    windowBits: number,
    memLevel: number,
  ) {
    this.#stream = zlib.createDeflateRaw({ level, windowBits, memLevel });
    const s = this.#stream as unknown as { _handle: ZlibHandle; _writeState: Uint32Array };
    this.#handle = s._handle;
    this.#state = s._writeState;
  }
  write(chunk: Uint8Array | string): boolean {
    const input = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.#handle.writeSync(zlib.constants.Z_SYNC_FLUSH, input, 0, input.length, STREAM_OUT, 0, STREAM_OUT.length);
    if (this.#state[1] !== 0 || this.#state[0] === 0) throw new Error("stream output buffer too small");
    return this.inner.write(STREAM_OUT.subarray(0, STREAM_OUT.length - this.#state[0]!));
  }
  close(): void {}
  end(): void {}
}

const LISTS = 50;
const PER_CONNECTION = 20;
const UNIVERSE = 200;

function gcNow(): void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
}

function memory(): { heap: number; rss: number } {
  gcNow();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
}

export function measureCase(spec: Spec): Record<string, number | string> {
  const values = new LastValues();
  const fanout = new Fanout(values, { heartbeatMs: 15_000, heartbeatSweepMs: 1000, slowConsumerMs: 30_000 });
  const symbols = benchSymbols(UNIVERSE);
  const seqs = new Array<number>(symbols.length).fill(0);
  let streamSeq = 0;
  let next = 0;
  let now = 0;
  const generator = spec.quotes === "simulator" ? new QuoteGenerator(symbols, spec.rate, 1) : null;
  const fromGenerator = (subject: string, payload: string) => {
    const v = values.apply(subject.slice(7), payload, ++streamSeq, Date.now());
    if (v !== undefined) fanout.onQuote(v);
  };
  const publish = (n: number) => {
    if (generator !== null) return generator.emit(n, Date.now(), fromGenerator);
    for (let k = 0; k < n; k++) {
      const i = next;
      next = (next + 1) % symbols.length;
      const v = values.apply(symbols[i]!, quote(symbols[i]!, ++seqs[i]!, Date.now()), ++streamSeq, Date.now());
      if (v !== undefined) fanout.onQuote(v);
    }
  };
  publish(symbols.length);
  fanout.markLoaded("bench", 0);
  const lists = subscriptionPaths(spec.workload === "shared" ? LISTS : spec.connections, PER_CONNECTION, UNIVERSE).map((p) => p.slice(p.indexOf("=") + 1).split(","));
  if (spec.mode === "gzip") void fanout.deflater; // the worker's one compressor, made before the baseline like the worker's buffers
  const before = memory();
  const sinks: ReadingSink[] = [];
  for (let c = 0; c < spec.connections; c++) {
    const inner = new ReadingSink();
    sinks.push(inner);
    const sink =
      spec.mode === "off" ? inner : spec.mode === "gzip" ? new GzipSink(inner, fanout.deflater) : spec.mode === "stream1" ? new StreamSink(inner, 1, 10, 1) : new StreamSink(inner, 6, 12, 2);
    fanout.open(lists[c % lists.length]!, spec.flushMs, undefined, sink, 0);
  }
  const idle = memory();
  const perTick = Math.round((spec.rate * spec.flushMs) / 1000);
  const run = (ticks: number) => {
    for (let t = 0; t < ticks; t++) {
      publish(perTick);
      now += spec.flushMs;
      fanout.tick(now);
    }
  };
  run(spec.ticks);
  const busy = memory();
  const wire0 = sinks.reduce((a, s) => a + s.bytes, 0);
  const frames0 = fanout.counters.framesSent;
  const built0 = fanout.counters.framesBuilt;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  run(spec.ticks);
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  const frames = fanout.counters.framesSent - frames0;
  const wire = sinks.reduce((a, s) => a + s.bytes, 0) - wire0;
  const per = (x: number) => Math.round((100 * x) / spec.connections) / 100;
  return {
    mode: spec.mode,
    workload: spec.workload,
    quotes: spec.quotes ?? "bench",
    connections: spec.connections,
    rate: spec.rate,
    flushMs: spec.flushMs,
    ticks: spec.ticks,
    framesWritten: frames,
    framesBuilt: fanout.counters.framesBuilt - built0,
    wireBytesPerFrame: Math.round((10 * wire) / frames) / 10,
    cpuUsPerFrame: Math.round((100 * (cpu.user + cpu.system)) / frames) / 100,
    wallUsPerFrame: Math.round((100 * ms * 1000) / frames) / 100,
    idleBytesPerConnection: per(idle.heap - before.heap),
    idleRssPerConnection: per(idle.rss - before.rss),
    busyBytesPerConnection: per(busy.heap - before.heap),
    busyRssPerConnection: per(busy.rss - before.rss),
  };
}

const HERE = fileURLToPath(import.meta.url);

function main(): void {
  const { values } = parseArgs({
    options: {
      child: { type: "string" },
      connections: { type: "string", default: "5000" },
      workloads: { type: "string", default: "own,shared" },
      modes: { type: "string", default: "off,gzip,stream1,stream6" },
      ticks: { type: "string", default: "200" },
      rate: { type: "string", default: "2000" },
      "flush-ms": { type: "string", default: "50" },
      quotes: { type: "string", default: "bench" },
      "no-write": { type: "boolean", default: false },
      e2e: { type: "boolean", default: false },
      measure: { type: "string", default: "8" },
    },
  });
  if (values.e2e) {
    installCleanupHooks(cleanupAll);
    void endToEnd(values).finally(() => cleanupAll());
    return;
  }
  if (values.child !== undefined) {
    process.stdout.write(JSON.stringify(measureCase(JSON.parse(values.child) as Spec)) + "\n");
    return;
  }
  const at = new Date().toISOString();
  const rows: Record<string, number | string>[] = [];
  for (const workload of values.workloads.split(",") as Workload[]) {
    for (const mode of values.modes.split(",") as Mode[]) {
      const spec: Spec = { mode, workload, connections: Number(values.connections), rate: Number(values.rate), flushMs: Number(values["flush-ms"]), ticks: Number(values.ticks), quotes: values.quotes === "simulator" ? "simulator" : "bench" };
      const out = execFileSync(process.execPath, ["--expose-gc", HERE, "--child", JSON.stringify(spec)], { encoding: "utf8", maxBuffer: 1 << 20 });
      const row = JSON.parse(out) as Record<string, number | string>;
      const off = rows.find((r) => r.workload === workload && r.mode === "off");
      if (off !== undefined) {
        row.shareOfOff = Math.round((1000 * (row.wireBytesPerFrame as number)) / (off.wireBytesPerFrame as number)) / 1000;
        row.extraCpuUsPerFrame = Math.round(100 * ((row.cpuUsPerFrame as number) - (off.cpuUsPerFrame as number))) / 100;
      }
      rows.push(row);
      process.stderr.write(JSON.stringify(row) + "\n");
      if (!values["no-write"]) {
        const dir = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
        mkdirSync(dir, { recursive: true });
        appendFileSync(dir + "compression.jsonl", JSON.stringify({ at, machine: machine("/usr/sbin/nats-server"), ...row }) + "\n");
      }
    }
  }
  const cols = ["workload", "mode", "framesWritten", "framesBuilt", "wireBytesPerFrame", "shareOfOff", "cpuUsPerFrame", "extraCpuUsPerFrame", "idleBytesPerConnection", "idleRssPerConnection", "busyBytesPerConnection", "busyRssPerConnection"];
  process.stdout.write(cols.join("\t") + "\n" + rows.map((r) => cols.map((c) => r[c] ?? "").join("\t")).join("\n") + "\n");
}

/** Off against gzip through real sockets; one run per case, fresh servers each. */
async function endToEnd(values: { connections: string; workloads: string; rate: string; "flush-ms": string; measure: string; "no-write": boolean }): Promise<void> {
  const at = new Date().toISOString();
  const log = (s: string) => process.stderr.write(s + "\n");
  const connections = Number(values.connections);
  const rows: Figures[] = [];
  const record = (spec: RunSpec, f: Figures, workload: string, mode: string) => {
    const row: Figures = { workload, mode, connections: spec.connections, rate: spec.rate, flushMs: spec.flushMs, ...f };
    rows.push(row);
    log(JSON.stringify(row));
    if (!values["no-write"]) {
      const dir = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
      mkdirSync(dir, { recursive: true });
      appendFileSync(dir + "compression.jsonl", JSON.stringify({ at, e2e: true, machine: machine("/usr/sbin/nats-server"), ...row }) + "\n");
    }
  };
  const spec = (mode: string, workload: string, extra: Partial<RunSpec> = {}): RunSpec => ({
    scenario: "compression",
    server: "quotecast",
    connections,
    rate: Number(values.rate),
    flushMs: Number(values["flush-ms"]),
    universe: UNIVERSE,
    perConnection: PER_CONNECTION,
    slowShare: 0,
    warmupSec: 3,
    measureSec: Number(values.measure),
    workers: 1,
    concurrency: 100,
    ...(mode === "gzip" ? { env: { QUOTECAST_COMPRESSION: "gzip" }, acceptGzip: true } : {}),
    ...(workload === "shared" ? { lists: LISTS } : {}),
    ...extra,
  });
  for (const workload of values.workloads.split(",")) {
    for (const mode of ["off", "gzip"]) {
      log(`  compression e2e: ${mode}, ${workload} lists, ${connections} connections`);
      const s = spec(mode, workload);
      record(s, await runOne(s, log), workload, mode);
    }
  }
  for (const mode of ["off", "gzip"]) {
    log(`  compression e2e: idle memory, ${mode}, ${connections} connections`);
    const s = spec(mode, "own", { rate: 0, extra: "idle", idleSettleSec: 10 });
    record(s, await runOne(s, log), "idle", mode);
  }
  const cols = ["workload", "mode", "framesPerSec", "quotesPerSec", "serverCpuPct", "clientMBps", "clientPlainMBps", "p50Ms", "p99Ms", "rssPerConnKB", "heapPerConnKB"];
  process.stdout.write(cols.join("\t") + "\n" + rows.map((r) => cols.map((c) => r[c] ?? "").join("\t")).join("\n") + "\n");
}

if (process.argv[1] === HERE) main();
