// The scenarios of `npm run bench`, each a list of runs (bench/lib/run-one.ts), and the
// targets of issue 4 judged from their figures.

import { measureAllocation } from "./alloc.js";
import { CAPACITY_STEPS, held, runCapacity } from "./capacity.js";
import { mergeRounds, type RunLine, type TargetVerdict } from "./lib/results.js";
import { runOne, type Figures, type RunSpec } from "./lib/run-one.js";
import { INGEST_DEFAULTS, runIngest, type IngestOptions } from "./ingest.js";
import { MODES, type BenchMode } from "./lib/modes.js";
import type { ServerKind } from "./lib/servers.js";

export const SCENARIOS = ["matrix", "alloc", "idle", "slow", "storm", "soak", "bandwidth", "capacity", "ingest"] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const DEFAULT_SCENARIOS: Scenario[] = ["matrix", "alloc", "idle", "slow", "storm", "soak", "bandwidth"];

export interface SuiteOptions {
  readonly servers: readonly ServerKind[];
  readonly connections: readonly number[];
  readonly rates: readonly number[];
  /** Connections up to which the naive server and nchan run in the matrix. */
  readonly peerMaxConnections: number;
  readonly measureSec: number;
  readonly warmupSec: number;
  readonly soakSec: number;
  readonly idleConnections: number;
  /** Seconds over which the idle scenario takes the least RSS. */
  readonly idleSettleSec: number;
  readonly eventConnections: number;
  readonly capacityRate: number;
  readonly capacityFlushMs: number;
  readonly capacitySteps: readonly number[];
  /** Also run quotecast with 2 workers in the matrix. */
  readonly workers2: boolean;
  /** quotecast's update modes compared in the bandwidth scenario (`--modes`, default full,delta,gzip,delta-gzip). */
  readonly modes: readonly BenchMode[];
  /** The publisher's quotes in every scenario (`--mix`, default market). */
  readonly mix: "market" | "every-field";
  /** Connections of the bandwidth scenario (default 5,000). */
  readonly bandwidthConnections: number;
  /**
   * Rounds of the bandwidth scenario's runs under the feed (`--repeat`): every mode once per
   * round, and each figure judged is the median of its rounds. Two runs of one build on this
   * shared machine differ by 10-25% in frames/s, more than the differences judged.
   */
  readonly bandwidthRepeat: number;
  /** The ingest scenario's options (bench/ingest.ts); its defaults when absent. */
  readonly ingest?: Partial<IngestOptions>;
}

type Record = (spec: RunSpec, f: Figures) => void;

/** The bandwidth scenario's idle runs: a server with `--compression gzip`, clients that do not ask for it and clients that do. */
const idleGzipModes: readonly BenchMode[] = [MODES.full!, { ...MODES.gzip!, name: "gzip-not-asked", headers: "" }, MODES.gzip!];

const base = (o: SuiteOptions): Omit<RunSpec, "scenario" | "server" | "connections"> => ({
  rate: 2000,
  flushMs: 50,
  universe: 200,
  perConnection: 20,
  slowShare: 0,
  warmupSec: o.warmupSec,
  measureSec: o.measureSec,
  workers: 1,
  concurrency: 100,
  mix: o.mix,
});

async function attempt(spec: RunSpec, record: Record, log: (s: string) => void): Promise<void> {
  const mode = spec.mode === undefined ? "" : ` ${spec.mode.name}`;
  const lists = spec.sharedLists ? `, one of ${spec.sharedLists} shared lists each` : "";
  log(`  ${spec.scenario} ${spec.server}${mode}${spec.workers > 1 ? ` (workers ${spec.workers})` : ""}: ${spec.connections} connections${lists}, feed ${spec.rate}/s, flush ${spec.flushMs} ms`);
  let f: Figures;
  try {
    f = await runOne(spec, log);
  } catch (err) {
    f = { error: (err as Error).message.split("\n")[0]! };
    log(`    failed: ${f.error}`);
  }
  if (typeof f.p99Ms === "number") log(`    ${f.framesPerSec} frames/s, ${f.quotesPerSec} quotes/s, p50 ${f.p50Ms} p99 ${f.p99Ms} max ${f.maxMs} ms, visibility lag p50 ${f.visP50Ms ?? "–"} p99 ${f.visP99Ms ?? "–"} ms, ${f.bytesPerQuote ?? "–"} B/quote, ${f.bytesPerConnSec ?? "–"} B/conn·s, ${f.cpuPerFrameUs ?? "–"} µs server CPU/frame${f.framesPerBuilt === undefined ? "" : `, ${f.framesPerBuilt} frames sent per frame built${f.serverWriteP99Ms === undefined ? "" : `, server publish-to-write p99 ≤ ${f.serverWriteP99Ms} ms`}`}, server CPU ${f.serverCpuPct}%${f.tickMeanMs === undefined ? "" : ` (ticks ${f.tickMeanMs} ms mean, ${f.ticksOverFlushPct}% longer than the window)`}, NATS CPU ${f.natsCpuPct}%, RSS ${f.serverRssMB} MB, loadgen CPU ${f.loadgenCpuPct}%, publisher CPU ${f.publisherCpuPct}%, published ${f.publishRate}/s, finals ${f.finalsOk === null ? "n/a" : `${f.finalsCurrent}/${f.finalsTotal}`}`);
  record(spec, f);
}

export async function runScenario(s: Scenario, o: SuiteOptions, record: Record, log: (s: string) => void): Promise<void> {
  const b = base(o);
  const has = (k: ServerKind) => o.servers.includes(k);
  const peers: readonly ServerKind[] = ["naive", "nchan", "node-coalescing"];
  switch (s) {
    case "matrix":
      for (const rate of o.rates) {
        for (const connections of o.connections) {
          for (const server of o.servers) {
            if (peers.includes(server) && connections > o.peerMaxConnections) continue;
            await attempt({ ...b, scenario: "matrix", server, connections, rate }, record, log);
          }
          if (o.workers2 && has("quotecast")) await attempt({ ...b, scenario: "matrix", server: "quotecast", connections, rate, workers: 2 }, record, log);
        }
      }
      // The target's second point: 18k connections at flush 250 ms.
      for (const server of ["ceiling", "quotecast"] as const) {
        if (has(server)) await attempt({ ...b, scenario: "matrix", server, connections: Math.max(...o.connections), rate: 2000, flushMs: 250 }, record, log);
      }
      return;
    case "alloc": {
      // In-process, no sockets: the fan-out core at the matrix's load under the sampling heap
      // profiler, at two connection counts: what grows with them is what a frame allocates.
      const at = async (connections: number, delta = false) => measureAllocation({ connections, rate: b.rate, flushMs: b.flushMs, universe: b.universe, perConnection: b.perConnection, ticks: 200, delta });
      log(`  alloc quotecast: fan-out core in process, 1000 then 5000 connections, feed ${b.rate}/s, flush ${b.flushMs} ms, 200 ticks each`);
      const small = await at(1000);
      const f = await at(5000);
      const perTick = (x: Figures) => (x.framesWritten as number) / 200;
      f.allocPerExtraFrameBytes = Math.round((100 * ((f.allocPerTickBytes as number) - (small.allocPerTickBytes as number))) / (perTick(f) - perTick(small))) / 100;
      f.allocPerTickBytesAt1000 = small.allocPerTickBytes as number;
      // The same with every connection on field deltas.
      const dSmall = await at(1000, true);
      const d = await at(5000, true);
      f.deltaAllocPerExtraFrameBytes = Math.round((100 * ((d.allocPerTickBytes as number) - (dSmall.allocPerTickBytes as number))) / (perTick(d) - perTick(dSmall))) / 100;
      f.deltaAllocPerTickBytes = d.allocPerTickBytes as number;
      f.deltaAllocTopInTick = d.allocTopInTick as string;
      log(`    delta=1: ${f.deltaAllocPerExtraFrameBytes} B per extra frame (${d.allocPerTickBytes} B per tick at 5000, ${dSmall.allocPerTickBytes} at 1000; ${d.allocTopInTick})`);
      log(`    ${f.framesWritten} frames at 5000: ${f.allocPerFrameBytes} B allocated per frame inside tick (${f.allocPerTickBytes} B per tick, ${f.allocPerTickBytesAt1000} B at 1000 connections: ${f.allocPerExtraFrameBytes} B per extra frame; ${f.allocTopInTick}); the feed ${f.allocPerQuoteBytes} B per quote`);
      record({ ...b, scenario: "alloc", server: "quotecast", connections: 5000 }, f);
      return;
    }
    case "idle":
      for (const server of o.servers) await attempt({ ...b, scenario: "idle", server, connections: o.idleConnections, rate: 0, extra: "idle", idleSettleSec: o.idleSettleSec }, record, log);
      return;
    case "slow":
      for (const server of o.servers) {
        if (server === "ceiling") continue;
        await attempt({ ...b, scenario: "slow", server, connections: o.eventConnections, slowShare: 0.1 }, record, log);
      }
      return;
    case "storm":
      for (const server of o.servers) await attempt({ ...b, scenario: "storm", server, connections: o.eventConnections, extra: "storm" }, record, log);
      return;
    case "soak":
      if (has("quotecast")) await attempt({ ...b, scenario: "soak", server: "quotecast", connections: Math.round(o.eventConnections / 2), extra: "soak", soakSec: o.soakSec }, record, log);
      return;
    case "bandwidth": {
      // The update modes side by side, on connections with their own symbols and on shared
      // watchlists (one of 50 lists of 20), each beside the ceiling's frames/s. Rounds
      // interleave the modes, so that the machine's drift falls on all of them alike.
      for (let round = 1; round <= o.bandwidthRepeat; round++) {
        if (o.bandwidthRepeat > 1) log(`  round ${round} of ${o.bandwidthRepeat}`);
        for (const sharedLists of [0, 50]) {
          const spec = { ...b, scenario: "bandwidth", connections: o.bandwidthConnections, ...(sharedLists > 0 ? { sharedLists } : {}), ...(o.bandwidthRepeat > 1 ? { round } : {}) };
          if (has("ceiling")) await attempt({ ...spec, server: "ceiling" }, record, log);
          if (has("quotecast")) for (const mode of o.modes) await attempt({ ...spec, server: "quotecast", mode }, record, log);
        }
      }
      // Idle memory per connection: compression off, then --compression gzip with connections
      // that do not ask for gzip (they must keep the ≤ 5 KB of the idle scenario) and with
      // connections that do. As many connections and as long a settle as the idle scenario: a
      // server's fixed memory spread over fewer connections reads as more per connection.
      if (has("quotecast") && o.modes.some((m) => m.serverArgs.length > 0)) {
        for (const mode of idleGzipModes) {
          await attempt({ ...b, scenario: "bandwidth", server: "quotecast", connections: o.idleConnections, rate: 0, extra: "idle", idleSettleSec: o.idleSettleSec, mode }, record, log);
        }
      }
      return;
    }
    case "ingest":
      // Its own connections, universe and rates (issue 19): see bench/ingest.ts.
      await runIngest({ ...INGEST_DEFAULTS, ...o.ingest }, record, log);
      return;
    case "capacity":
      await runCapacity({ servers: o.servers.filter((k) => k !== "node-coalescing"), steps: o.capacitySteps, base: { ...b, rate: o.capacityRate, flushMs: o.capacityFlushMs, measureSec: Math.min(o.measureSec, 8) } }, record, log);
      return;
  }
}

const fig = (r: RunLine | undefined, k: string): number => (r && typeof r.figures[k] === "number" ? (r.figures[k] as number) : NaN);

/** The issue's targets, judged from the runs of one invocation. */
export function judge(runs: RunLine[]): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  const find = (scenario: string, server: string, conns: number, rate: number, flush: number) =>
    runs.find((r) => r.scenario === scenario && r.server === server && r.params.workers === 1 && r.params.connections === conns && r.params.rate === rate && r.params.flushMs === flush && r.figures.error === undefined);
  const at250 = runs.filter((r) => r.scenario === "matrix" && r.params.flushMs === 250).map((r) => r.params.connections);
  const maxConns = at250.length > 0 ? Math.max(...at250) : 18_000;
  for (const [conns, flush] of [[5000, 50], [maxConns, 250]] as const) {
    const q = find("matrix", "quotecast", conns, 2000, flush);
    const c = find("matrix", "ceiling", conns, 2000, flush);
    if (!q || !c) {
      out.push({ target: `${conns} connections, flush ${flush} ms: frames/s ≥ 80% of ceiling, p99 ≤ 1.25× ceiling`, met: null, figures: "run missing" });
      continue;
    }
    const eff = fig(q, "framesPerSec") / fig(c, "framesPerSec");
    const p = fig(q, "p99Ms") / fig(c, "p99Ms");
    out.push({
      target: `${conns} connections, flush ${flush} ms, feed 2k/s: frames/s ≥ 80% of ceiling, p99 ≤ 1.25× ceiling`,
      met: eff >= 0.8 && p <= 1.25,
      figures: `frames/s ${Math.round(fig(q, "framesPerSec"))} vs ${Math.round(fig(c, "framesPerSec"))} (${(100 * eff).toFixed(0)}%); p99 ${fig(q, "p99Ms")} vs ${fig(c, "p99Ms")} ms (${p.toFixed(2)}×)`,
    });
  }
  // Capacity: from the capacity scenario when it ran, else from the matrix points.
  const heldBy = (server: string): { n: number; from: string } => {
    const cap = runs.filter((r) => r.scenario === "capacity" && r.server === server);
    if (cap.length > 0) return { n: Math.max(0, ...cap.filter((r) => r.figures.held === true).map((r) => r.params.connections)), from: "capacity scenario" };
    const m = runs.filter((r) => r.scenario === "matrix" && r.server === server && r.params.workers === 1 && r.params.rate === 2000 && r.params.flushMs === 50).sort((a, b) => a.params.connections - b.params.connections);
    let best = 0;
    for (const r of m) {
      if (!held(r.figures, 50, r.params.connections)) break;
      best = r.params.connections;
    }
    return { n: best, from: "matrix points" };
  };
  const qh = heldBy("quotecast");
  const nh = heldBy("naive");
  out.push({
    target: "most connections with p99 ≤ flush+100 ms (feed 2k/s, flush 50 ms): quotecast ≥ 3× naive",
    met: !runs.some((r) => r.server === "naive") || !runs.some((r) => r.server === "quotecast") ? null : qh.n > 0 && qh.n >= 3 * nh.n,
    figures: `quotecast ${qh.n}, naive ${nh.n} (${qh.from}; a step that failed was not retried)`,
  });
  for (const peer of ["naive", "nchan"]) {
    const r = find("matrix", peer, 5000, 2000, 50);
    out.push({ target: `${peer} falls seconds behind at 5,000 connections (p99 ≥ 1 s)`, met: r ? fig(r, "p99Ms") >= 1000 : null, figures: r ? `p99 ${fig(r, "p99Ms")} ms, max ${fig(r, "maxMs")} ms, ${fig(r, "framesPerSec")} frames/s` : "run missing" });
  }
  const checked = runs.filter((r) => r.figures.finalsOk === true || r.figures.finalsOk === false);
  // In the slow scenario a connection the server closed as a slow consumer (as the contract
  // says it must) is not a missed value: every connection still open must be current.
  const complete = (r: RunLine) => r.figures.finalsOk === true || (r.scenario === "slow" && fig(r, "finalsCurrent") + fig(r, "finalsClosed") >= fig(r, "finalsTotal"));
  const bad = checked.filter((r) => !complete(r));
  const qBad = bad.filter((r) => r.server === "quotecast");
  out.push({
    target: "every symbol's final value delivered to every connection (quotecast runs)",
    met: checked.some((r) => r.server === "quotecast") ? qBad.length === 0 : null,
    figures: `quotecast: ${checked.filter((r) => r.server === "quotecast").length - qBad.length}/${checked.filter((r) => r.server === "quotecast").length} runs complete; peers: ${bad.filter((r) => r.server !== "quotecast").map((r) => `${r.server} ${r.scenario} ${r.params.connections}: ${r.figures.finalsCurrent}/${r.figures.finalsTotal}`).join(", ") || "all complete"}`,
  });
  out.push(...judgeBandwidth(runs));
  const alloc = runs.find((r) => r.scenario === "alloc");
  out.push({
    // Per tick the fan-out makes the event id and its bytes, whatever the connections; anything
    // per frame would add tens of bytes per extra frame (the smallest JS object is 12–16 bytes).
    target: "nothing allocated per connection per frame in the hot path (beyond the write)",
    met: alloc ? fig(alloc, "allocPerExtraFrameBytes") < 1 && !(fig(alloc, "deltaAllocPerExtraFrameBytes") >= 1) : null,
    figures: alloc
      ? `${fig(alloc, "allocPerExtraFrameBytes")} B per extra frame, ${fig(alloc, "deltaAllocPerExtraFrameBytes")} B with delta=1 (per tick ${fig(alloc, "allocPerTickBytesAt1000")} B with 1,000 connections, ${fig(alloc, "allocPerTickBytes")} B with 5,000, each with a frame of its own; ${alloc.figures.allocTopInTick})`
      : "run missing",
  });
  const idle = runs.find((r) => r.scenario === "idle" && r.server === "quotecast");
  const idleC = runs.find((r) => r.scenario === "idle" && r.server === "ceiling");
  out.push({
    target: "≤ 5 KB RSS per idle connection above baseline",
    // Below zero, the server was still giving back start-up memory: the window was too short to judge.
    met: idle && fig(idle, "rssPerConnKB") >= 0 ? fig(idle, "rssPerConnKB") <= 5 : null,
    figures: idle ? `quotecast ${fig(idle, "rssPerConnKB")} KB settled, ${fig(idle, "rssPerConnEarlyKB")} KB 3 s after the burst (ceiling ${fig(idleC, "rssPerConnKB")} KB) at ${idle.params.connections} connections` : "run missing",
  });
  return out;
}

const pct = (a: number, b: number) => `${Math.round((100 * a) / b)}%`;

/** Issue 15's targets, from the bandwidth scenario's runs (market mix unless the run says otherwise). */
export function judgeBandwidth(runs: RunLine[]): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  // Repeated rounds: each figure is the median of its rounds (with the range of frames/s and p99).
  const busy = mergeRounds(runs.filter((r) => r.scenario === "bandwidth" && r.figures.error === undefined && r.params.extra !== "idle"));
  const modeOf = (r: RunLine) => r.params.mode?.name ?? "full";
  const bw = (mode: string, shared = false) => busy.find((r) => r.server === "quotecast" && modeOf(r) === mode && !r.params.sharedLists === !shared);
  const ceiling = (shared = false) => busy.find((r) => r.server === "ceiling" && !r.params.sharedLists === !shared);
  const full = bw("full");
  const conns = full ? `${full.params.connections.toLocaleString("en-US")} connections` : "5,000 connections";
  const mix = full?.params.mix === "every-field" ? "every-field mix" : "market mix";
  const rates = full ? ` (field change rates: ${String(full.figures.fieldChangeRates ?? "?")})` : "";
  for (const [mode, limit] of [["delta", 0.6], ["gzip", 0.35], ["delta-gzip", 0.3]] as const) {
    const m = bw(mode);
    const b = fig(m, "bytesPerQuote");
    const f = fig(full, "bytesPerQuote");
    out.push({
      target: `${mode}: at most ${limit * 100}% of full mode's bytes per delivered quote (${conns}, own symbols, ${mix})`,
      met: full && m ? b <= limit * f : null,
      figures: full && m ? `${b} vs ${f} B on the wire per quote (${pct(b, f)}); per connection·s ${fig(m, "bytesPerConnSec")} vs ${fig(full, "bytesPerConnSec")} B${mode === "delta" ? rates : ""}` : "run missing",
    });
  }
  const delta = bw("delta");
  const ofRounds = full && fig(full, "rounds") > 1 ? `, medians of ${fig(full, "rounds")} rounds (range)` : "";
  const range = (r: RunLine, k: string) => (fig(r, "rounds") > 1 ? ` (${fig(r, `${k}Min`)}–${fig(r, `${k}Max`)})` : "");
  out.push({
    // Two runs of the same build on this shared machine differ by several per cent: 5% is the
    // tolerance, on the medians of the rounds when there are several.
    target: "delta: frames/s and p99 no worse than full mode (within 5%; own symbols, and shared lists where they ran)",
    met: full && delta ? noWorse(delta, full) && (!bw("delta", true) || !bw("full", true) || noWorse(bw("delta", true)!, bw("full", true)!)) : null,
    figures:
      full && delta
        ? `own symbols${ofRounds}: frames/s ${fig(delta, "framesPerSec")}${range(delta, "framesPerSec")} vs ${fig(full, "framesPerSec")}${range(full, "framesPerSec")} (ceiling ${fig(ceiling(), "framesPerSec")}); p99 ${fig(delta, "p99Ms")}${range(delta, "p99Ms")} vs ${fig(full, "p99Ms")}${range(full, "p99Ms")} ms; visibility lag p99 ${fig(delta, "visP99Ms")} vs ${fig(full, "visP99Ms")} ms` +
          sharedDelta(bw("delta", true), bw("full", true))
        : "run missing",
  });
  const gzShared = bw("gzip", true);
  const fullShared = bw("full", true);
  out.push({
    target: "gzip on shared watchlists (one of 50 lists of 20): frames/s at least 70% of gzip off",
    met: gzShared && fullShared ? fig(gzShared, "framesPerSec") >= 0.7 * fig(fullShared, "framesPerSec") : null,
    figures:
      gzShared && fullShared
        ? `frames/s ${fig(gzShared, "framesPerSec")} vs ${fig(fullShared, "framesPerSec")} (${pct(fig(gzShared, "framesPerSec"), fig(fullShared, "framesPerSec"))}; ceiling ${fig(ceiling(true), "framesPerSec")}); server CPU per frame ${fig(gzShared, "cpuPerFrameUs")} vs ${fig(fullShared, "cpuPerFrameUs")} µs; p99 ${fig(gzShared, "p99Ms")} vs ${fig(fullShared, "p99Ms")} ms`
        : "run missing",
  });
  const idle = (mode: string) => runs.find((r) => r.scenario === "bandwidth" && r.server === "quotecast" && r.params.extra === "idle" && modeOf(r) === mode && r.figures.error === undefined);
  const off = idle("full");
  const plain = idle("gzip-not-asked");
  const gz = idle("gzip");
  out.push({
    target: "--compression gzip: a connection that does not ask for gzip keeps ≤ 5 KB RSS idle; a compressed connection's memory is stated",
    // Below zero, the server was still giving back start-up memory: the window was too short to judge.
    met: plain && fig(plain, "rssPerConnKB") >= 0 ? fig(plain, "rssPerConnKB") <= 5 : null,
    figures: plain
      ? `idle RSS (V8 heap) per connection: not asking ${fig(plain, "rssPerConnKB")} KB (${fig(plain, "heapPerConnKB")}), compressed ${fig(gz, "rssPerConnKB")} KB (${fig(gz, "heapPerConnKB")}), compression off ${fig(off, "rssPerConnKB")} KB (${fig(off, "heapPerConnKB")}) at ${plain.params.connections} connections; busy (own symbols, under the feed): gzip ${fig(bw("gzip"), "rssPerConnBusyKB")} KB (${fig(bw("gzip"), "heapPerConnBusyKB")}), full ${fig(full, "rssPerConnBusyKB")} KB (${fig(full, "heapPerConnBusyKB")})`
      : "run missing",
  });
  return out;
}

/** `r`'s frames/s at least 95% of `base`'s, and its p99 at most 105%. */
function noWorse(r: RunLine, base: RunLine): boolean {
  return fig(r, "framesPerSec") >= 0.95 * fig(base, "framesPerSec") && fig(r, "p99Ms") <= 1.05 * fig(base, "p99Ms");
}

/** The delta-against-full figures on shared watchlists (judged with the own-symbol ones where they ran). */
function sharedDelta(delta: RunLine | undefined, full: RunLine | undefined): string {
  if (!delta || !full) return "";
  return `; shared lists: frames/s ${fig(delta, "framesPerSec")} vs ${fig(full, "framesPerSec")}, p99 ${fig(delta, "p99Ms")} vs ${fig(full, "p99Ms")} ms`;
}

export { CAPACITY_STEPS };
