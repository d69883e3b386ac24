// The `alloc` scenario: what quotecast's fan-out allocates per frame. It drives the real Fanout
// (src/fanout) in this process with the matrix's load, each connection on its own 20 of 200
// symbols and so a frame of its own, into sinks that take every frame as uWS does (they read it
// and keep nothing), under V8's sampling heap profiler, objects collected by GC included. Bytes
// allocated inside `Fanout.tick` over frames written is the figure: the target is that nothing is
// allocated per connection per frame. What `LastValues.apply` allocates per quote (its UTF-8
// bytes, once per quote) is reported apart; making the quote's text is the feed's, not counted. No sockets: the write itself is uWS's, outside this count.

import { Session } from "node:inspector/promises";
import { LastValues } from "../src/ingest/last-values.js";
import type { Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";
import { quote } from "./loadgen/quote.js";
import { benchSymbols } from "./loadgen/symbols.js";
import type { Figures } from "./lib/run-one.js";
import { subscriptionPaths } from "./lib/run-one.js";

export interface AllocSpec {
  readonly connections: number;
  readonly rate: number;
  readonly flushMs: number;
  readonly universe: number;
  readonly perConnection: number;
  /** Ticks measured, after twice as many to warm up. */
  readonly ticks: number;
  /** Connections ask for field deltas (delta=1). */
  readonly delta?: boolean;
}

const TICK_FRAMES = new Set(["tick", "runTick", "beginTick"]);

/** Reads every byte of a frame (as the kernel copy would) and keeps none. */
class ReadingSink implements Sink {
  bytes = 0;
  checksum = 0;
  write(chunk: Uint8Array | string): boolean {
    if (typeof chunk === "string") {
      this.bytes += chunk.length;
      return true;
    }
    this.bytes += chunk.length;
    this.checksum = (this.checksum + chunk[chunk.length >> 1]!) | 0;
    return true;
  }
  close(): void {}
  end(): void {}
}

interface SamplingNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: SamplingNode[];
}

export async function measureAllocation(spec: AllocSpec): Promise<Figures> {
  const values = new LastValues();
  const fanout = new Fanout(values, { heartbeatMs: 15_000, heartbeatSweepMs: 1000, slowConsumerMs: 30_000 });
  const symbols = benchSymbols(spec.universe);
  const seqs = new Array<number>(symbols.length).fill(0);
  let streamSeq = 0;
  let next = 0;
  let now = 0;
  const publish = (n: number) => {
    for (let k = 0; k < n; k++) {
      const i = next;
      next = (next + 1) % symbols.length;
      const v = values.apply(symbols[i]!, quote(symbols[i]!, ++seqs[i]!, Date.now()), ++streamSeq, Date.now());
      if (v !== undefined) fanout.onQuote(v);
    }
  };
  publish(symbols.length);
  fanout.markLoaded("alloc", 0);
  const sinks = subscriptionPaths(spec.connections, spec.perConnection, spec.universe).map((path) => {
    const sink = new ReadingSink();
    fanout.open(path.slice(path.indexOf("=") + 1).split(","), spec.flushMs, undefined, sink, 0, { delta: spec.delta === true });
    return sink;
  });
  const perTick = Math.round((spec.rate * spec.flushMs) / 1000);
  const run = (ticks: number) => {
    for (let t = 0; t < ticks; t++) {
      publish(perTick);
      now += spec.flushMs;
      fanout.tick(now);
    }
  };
  // Warm up: optimized code, and the frame buffer's views made for the frame lengths that occur
  // (until then, a frame of a length not seen before makes its view once).
  run(2 * spec.ticks);

  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.enable");
  const frames0 = fanout.counters.framesSent;
  const t0 = performance.now();
  await session.post("HeapProfiler.startSampling", { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  run(spec.ticks);
  const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: SamplingNode } };
  const ms = performance.now() - t0;
  const frames = fanout.counters.framesSent - frames0;

  const total = (n: SamplingNode): number => n.selfSize + n.children.reduce((a, c) => a + total(c), 0);
  const tickNodes: SamplingNode[] = [];
  const walk = (n: SamplingNode) => {
    // The outermost fan-out frame of a tick: `tick`, or `runTick` and `beginTick` once V8 has
    // inlined the small `tick` into the driver (it does when this runs a second time in one
    // process, and then nothing was found here).
    if (TICK_FRAMES.has(n.callFrame.functionName) && n.callFrame.url.includes("fanout")) return void tickNodes.push(n);
    n.children.forEach(walk);
  };
  walk(profile.head);
  const inTick = tickNodes.reduce((a, n) => a + total(n), 0);
  // The feed side apart: quotes made beforehand, then only LastValues.apply sampled.
  const texts = Array.from({ length: 20_000 }, (_, k) => quote(symbols[k % symbols.length]!, 1_000_000 + k, Date.now()));
  await session.post("HeapProfiler.startSampling", { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let k = 0; k < texts.length; k++) values.apply(symbols[k % symbols.length]!, texts[k]!, ++streamSeq, 0);
  const feed = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: SamplingNode } };
  const inFeed = total(feed.profile.head);
  // Where inside tick the bytes went, by function (self size).
  const byFn = new Map<string, number>();
  const self = (n: SamplingNode) => {
    if (n.selfSize > 0) byFn.set(n.callFrame.functionName || "(anonymous)", (byFn.get(n.callFrame.functionName || "(anonymous)") ?? 0) + n.selfSize);
    n.children.forEach(self);
  };
  tickNodes.forEach(self);
  session.disconnect();
  const top = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([fn, bytes]) => `${fn} ${Math.round(bytes / spec.ticks)} B/tick`);
  return {
    framesWritten: frames,
    bytesWritten: sinks.reduce((a, s) => a + s.bytes, 0),
    frameMs: Math.round((1e6 * ms) / Math.max(1, frames)) / 1e6,
    allocInTickBytes: inTick,
    allocPerFrameBytes: Math.round((100 * inTick) / Math.max(1, frames)) / 100,
    allocPerTickBytes: Math.round(inTick / spec.ticks),
    allocPerQuoteBytes: Math.round(inFeed / texts.length),
    allocTopInTick: top.join("; ") || "none sampled",
  };
}
