// What field deltas cost in quotecast's fan-out core, against full JSON frames: the real Fanout
// (src/fanout) in this process, no sockets and no NATS, at the bandwidth bench's load (market-mix
// quotes from the bench publisher's price model, round-robin over 200 symbols), into sinks that
// read every byte as uWS's copy would. Quiet and repeatable even on a busy machine. Each case runs
// in its own child process.
//
//   npx tsc -p tsconfig.bench.json && node build/bench/bench/delta-cost.js [options]
//     --connections N   connections (default 5000)
//     --workloads L     own (each its own 20 of 200 symbols), shared (one of 50 lists of 20); default both
//     --modes L         full, delta; default both
//     --ticks N         ticks measured, after as many to warm up (default 100)
//     --rate N          feed, quotes/s (default 2000); --flush-ms N (default 50)
//     --slice N         frames per slice, as the worker runs a tick (SlicedTicks, 256); 0: whole ticks
//     --between N       quotes published between two slices of a tick (default: the tick's quotes
//                       spread evenly over its slices, as the worker reads the feed while it writes)
//     --congest P       share of writes that report backpressure; such a socket drains --drain N
//                       slices later (default 10: half a tick of 5,000 connections), mid-tick as sockets do
//     --jitter J        each tick begins flush ± up to J ms after the last (a busy worker's clock)
//     --no-alloc        skip the allocation run (V8's sampling heap profiler)
//     --check           parse every frame and count, after each tick, the (connection, symbol) pairs
//                       whose held seq is older than the symbol's seq when the tick began: a change
//                       a connection should have had and did not (slow; use fewer ticks)
//
// Figures per case: frames written and built, wire bytes per frame, CPU per frame written
// (user+system of the whole process over the measured ticks, the feed's parsing included), and
// bytes allocated inside the tick (sampled, objects collected by GC included) per tick and per
// frame. Run it under `node --cpu-prof` with --modes and --workloads naming one case to see
// where the time goes (the case then runs in this process).

import { execFileSync } from "node:child_process";
import { Session } from "node:inspector/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LastValues } from "../src/ingest/last-values.js";
import type { Connection, Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";
import { instrumentsFor } from "../src/simulator/instrument.js";
import { PriceModel, createQuoteTick } from "../src/simulator/price-model.js";
import { formatQuote, payloadPrefix } from "../src/simulator/quote-payload.js";
import { SeededRandom } from "../src/simulator/rng.js";
import { benchSymbols } from "./loadgen/symbols.js";
import { subscriptionPaths } from "./lib/run-one.js";

type Mode = "full" | "delta";
type Workload = "own" | "shared";

export interface DeltaCostSpec {
  readonly mode: Mode;
  readonly workload: Workload;
  readonly connections: number;
  readonly rate: number;
  readonly flushMs: number;
  readonly ticks: number;
  /** Frames per slice; 0: whole ticks. */
  readonly slice: number;
  /** Quotes between two slices; -1: the tick's quotes spread over its slices. */
  readonly between: number;
  readonly congest: number;
  readonly drain: number;
  readonly alloc: boolean;
  readonly check?: boolean;
  readonly jitter?: number;
}

const LISTS = 50;
const PER_CONNECTION = 20;
const UNIVERSE = 200;
const TICK_FRAMES = new Set(["tick", "runTick", "beginTick"]);

/** Reads every byte of a chunk (as the kernel copy would) and keeps none; may report backpressure. */
class ReadingSink implements Sink {
  bytes = 0;
  checksum = 0;
  /** Slice boundaries until a congested socket drains; -1 while writable. */
  drainIn = -1;
  constructor(readonly congest: () => boolean) {}
  write(chunk: Uint8Array | string): boolean {
    if (typeof chunk === "string") this.bytes += chunk.length;
    else {
      if (this.held !== null) this.#hold(Buffer.from(chunk).toString());
      this.bytes += chunk.length;
      this.checksum = (this.checksum + chunk[chunk.length >> 1]!) | 0;
    }
    if (this.drainIn >= 0 || !this.congest()) return true;
    this.drainIn = this.drainAfter;
    return false;
  }
  drainAfter = 0;
  /** With --check: the newest seq held of each symbol, merged from every event. */
  held: Map<string, number> | null = null;
  #hold(text: string): void {
    const data = text.indexOf("data: ");
    if (data < 0) return;
    for (const o of JSON.parse(text.slice(data + 6, text.indexOf("\n", data))) as { sym: string; seq?: number }[]) {
      if (o.seq !== undefined && o.seq > (this.held!.get(o.sym) ?? -1)) this.held!.set(o.sym, o.seq);
    }
  }
  close(): void {}
  end(): void {}
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

export async function measureDeltaCost(spec: DeltaCostSpec): Promise<Record<string, number | string>> {
  const values = new LastValues();
  const fanout = new Fanout(values, { heartbeatMs: 15_000, heartbeatSweepMs: 1000, slowConsumerMs: 1e12 });
  const symbols = benchSymbols(UNIVERSE);
  const model = new PriceModel(instrumentsFor(symbols), new SeededRandom(11), "market");
  const qtick = createQuoteTick();
  const prefixes = symbols.map(payloadPrefix);
  let streamSeq = 0;
  let published = 0;
  let next = 0;
  let now = 0;
  const publish = (n: number) => {
    const wall = Date.now();
    for (let k = 0; k < n; k++) {
      const i = next;
      next = (next + 1) % symbols.length;
      model.step(i, published++ / spec.rate, qtick);
      const v = values.apply(symbols[i]!, formatQuote(prefixes[i]!, wall, qtick), ++streamSeq, wall);
      if (v !== undefined) fanout.onQuote(v);
    }
  };
  publish(symbols.length);
  fanout.markLoaded("delta-cost", 0);
  const rand = new SeededRandom(5);
  // A plain LCG for the sinks: called inside the tick, so it must allocate nothing itself.
  let lcg = 12345;
  const uniform = () => {
    lcg = (Math.imul(lcg, 1103515245) + 12345) | 0;
    return (lcg >>> 8) / 16777216;
  };
  let congestOn = false;
  const congest = () => congestOn && spec.congest > 0 && uniform() < spec.congest;
  const lists = subscriptionPaths(spec.workload === "shared" ? LISTS : spec.connections, PER_CONNECTION, UNIVERSE).map((p) => p.slice(p.indexOf("=") + 1).split(","));
  const sinks: ReadingSink[] = [];
  const conns: Connection[] = [];
  for (let c = 0; c < spec.connections; c++) {
    const sink = new ReadingSink(congest);
    sink.drainAfter = spec.drain;
    if (spec.check === true) sink.held = new Map();
    sinks.push(sink);
    conns.push(fanout.open(lists[c % lists.length]!, spec.flushMs, undefined, sink, 0, { delta: spec.mode === "delta" }));
  }
  congestOn = true;
  const perTick = Math.round((spec.rate * spec.flushMs) / 1000);
  const slices = spec.slice > 0 ? Math.max(1, Math.ceil(spec.connections / spec.slice)) : 1;
  /** A slice boundary: congested sockets come closer to draining. */
  const drainSome = () => {
    if (spec.congest <= 0) return;
    for (let c = 0; c < sinks.length; c++) {
      const sink = sinks[c]!;
      if (sink.drainIn < 0) continue;
      if (sink.drainIn-- > 0) continue;
      sink.drainIn = -1;
      fanout.onWritable(conns[c]!);
    }
  };
  /** --check: each symbol's seq when the running tick began, and pairs found stale, summed over ticks. */
  const atBegin = new Map<string, number>();
  let stale = 0;
  const lastSeq = (sym: string) => {
    const v = values.get(sym);
    if (v === undefined) return -1;
    const at = v.json.indexOf('"seq":');
    return Number.parseInt(v.json.slice(at + 6), 10);
  };
  /** Connections whose last frame was not their group's, summed over ticks. */
  let outOfStep = 0;
  const run = (ticks: number) => {
    for (let t = 0; t < ticks; t++) {
      now += spec.flushMs + (spec.jitter ? (2 * rand.float() - 1) * spec.jitter : 0);
      if (spec.slice <= 0) {
        publish(perTick);
        fanout.tick(now);
        drainSome();
        continue;
      }
      // The feed goes on while the tick writes: a share of the window's quotes before each slice.
      const between = spec.between >= 0 ? spec.between : Math.floor(perTick / slices);
      publish(perTick - between * (slices - 1));
      if (spec.check === true) for (const sym of symbols) atBegin.set(sym, lastSeq(sym));
      fanout.beginTick(now);
      while (!fanout.runTick(spec.slice)) {
        publish(between);
        drainSome();
      }
      drainSome();
      for (const conn of conns) if (conn.sentMark !== conn.group.sentMark) outOfStep++;
      if (spec.check === true) {
        for (let c = 0; c < conns.length; c++) {
          if (conns[c]!.congested) continue;
          for (const slot of conns[c]!.group.slots) if ((sinks[c]!.held!.get(slot.sym) ?? -1) < atBegin.get(slot.sym)!) stale++;
        }
      }
    }
  };
  run(spec.ticks);
  const wire0 = sinks.reduce((a, s) => a + s.bytes, 0);
  const frames0 = fanout.counters.framesSent;
  outOfStep = 0;
  stale = 0;
  const built0 = fanout.counters.framesBuilt;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  run(spec.ticks);
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  const frames = fanout.counters.framesSent - frames0;
  const built = fanout.counters.framesBuilt - built0;
  const wire = sinks.reduce((a, s) => a + s.bytes, 0) - wire0;
  const row: Record<string, number | string> = {
    mode: spec.mode,
    workload: spec.workload,
    connections: spec.connections,
    slice: spec.slice,
    congest: spec.congest,
    ticks: spec.ticks,
    framesWritten: frames,
    framesBuilt: built,
    wireBytesPerFrame: Math.round((10 * wire) / Math.max(1, frames)) / 10,
    cpuUsPerFrame: Math.round((100 * (cpu.user + cpu.system)) / Math.max(1, frames)) / 100,
    wallMsPerTick: Math.round((100 * ms) / spec.ticks) / 100,
    outOfStepPerTick: Math.round(outOfStep / spec.ticks),
    ...(spec.check === true ? { stalePairsPerTick: Math.round((100 * stale) / spec.ticks) / 100 } : {}),
  };
  if (spec.alloc) {
    const session = new Session();
    session.connect();
    await session.post("HeapProfiler.enable");
    const f0 = fanout.counters.framesSent;
    await session.post("HeapProfiler.startSampling", { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    run(spec.ticks);
    const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: SamplingNode } };
    session.disconnect();
    const f = fanout.counters.framesSent - f0;
    const total = (n: SamplingNode): number => n.selfSize + n.children.reduce((a, c) => a + total(c), 0);
    let inTick = 0;
    const byFn = new Map<string, number>();
    const self = (n: SamplingNode) => {
      const name = `${n.callFrame.functionName || "(anonymous)"}:${n.callFrame.lineNumber + 1}`;
      if (n.selfSize > 0) byFn.set(name, (byFn.get(name) ?? 0) + n.selfSize);
      n.children.forEach(self);
    };
    const walk = (n: SamplingNode) => {
      if (TICK_FRAMES.has(n.callFrame.functionName) && n.callFrame.url.includes("fanout")) {
        inTick += total(n);
        self(n);
        return;
      }
      n.children.forEach(walk);
    };
    walk(profile.head);
    row.allocBytesPerTick = Math.round(inTick / spec.ticks);
    row.allocBytesPerFrame = Math.round((100 * inTick) / Math.max(1, f)) / 100;
    row.allocTop = [...byFn.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([fn, bytes]) => `${fn} ${Math.round(bytes / spec.ticks)} B/tick`)
      .join("; ");
  }
  return row;
}

const HERE = fileURLToPath(import.meta.url);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: "string" },
      connections: { type: "string", default: "5000" },
      workloads: { type: "string", default: "own,shared" },
      modes: { type: "string", default: "full,delta" },
      ticks: { type: "string", default: "100" },
      rate: { type: "string", default: "2000" },
      "flush-ms": { type: "string", default: "50" },
      slice: { type: "string", default: "256" },
      between: { type: "string", default: "-1" },
      congest: { type: "string", default: "0" },
      drain: { type: "string", default: "10" },
      "no-alloc": { type: "boolean", default: false },
      check: { type: "boolean", default: false },
      jitter: { type: "string", default: "0" },
    },
  });
  if (values.child !== undefined) {
    process.stdout.write(JSON.stringify(await measureDeltaCost(JSON.parse(values.child) as DeltaCostSpec)) + "\n");
    return;
  }
  const workloads = values.workloads.split(",") as Workload[];
  const modes = values.modes.split(",") as Mode[];
  const specOf = (workload: Workload, mode: Mode): DeltaCostSpec => ({
    mode,
    workload,
    connections: Number(values.connections),
    rate: Number(values.rate),
    flushMs: Number(values["flush-ms"]),
    ticks: Number(values.ticks),
    slice: Number(values.slice),
    between: Number(values.between),
    congest: Number(values.congest),
    drain: Number(values.drain),
    alloc: !values["no-alloc"],
    check: values.check,
    jitter: Number(values.jitter),
  });
  const rows: Record<string, number | string>[] = [];
  for (const workload of workloads) {
    for (const mode of modes) {
      const spec = specOf(workload, mode);
      // One case alone runs here (for --cpu-prof); several each in a child of their own.
      const row =
        workloads.length * modes.length === 1
          ? await measureDeltaCost(spec)
          : (JSON.parse(execFileSync(process.execPath, [HERE, "--child", JSON.stringify(spec)], { encoding: "utf8", maxBuffer: 1 << 20 })) as Record<string, number | string>);
      rows.push(row);
      process.stderr.write(JSON.stringify(row) + "\n");
    }
  }
  const cols = ["workload", "mode", "framesWritten", "framesBuilt", "wireBytesPerFrame", "cpuUsPerFrame", "wallMsPerTick", "outOfStepPerTick", "stalePairsPerTick", "allocBytesPerTick", "allocBytesPerFrame"];
  process.stdout.write(cols.join("\t") + "\n" + rows.map((r) => cols.map((c) => r[c] ?? "").join("\t")).join("\n") + "\n");
}

if (process.argv[1] === HERE) void main();
