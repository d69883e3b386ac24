// Scenario "ingest" (issue 19): how fast a feed one quotecast node takes in while it serves.
// For each feed rate: quotecast with 1 and 2 workers (shared ingest; optionally also 2 workers
// each reading NATS, --ingest per-worker), 1,000 connections each with its own 20 of 5,000
// symbols, flush 50 ms; and, as the ceiling, a bare NATS subscriber that only counts, reading
// what quotecast reads (the QUOTES stream's republished feed) on the same stream storage.
//
// Figures per run: delivered quotes/s at the clients (conflated: each frame holds each changed
// symbol's latest quote), quotes/s quotecast took in, p50/p99 publish-to-receive age, the p50 of
// each 5 s slice of the window and its growth (ms per second: a feed path that falls behind shows
// a growing age), every final value delivered, and the CPU of quotecast, nats-server and the
// publisher. Client and servers share the machine's cores.

import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { LatencyHistogram } from "./loadgen/histogram.js";
import { countingTotals, startCountingSubscriber } from "./ingest-probe.js";
import { createBenchStream, type StreamStorage } from "./lib/bench-stream.js";
import { LoadGenerator, Publisher, type LoadTotals } from "./lib/loadgen.js";
import { machineBusy, sleep, treeUsage } from "./lib/processes.js";
import { round, subscriptionPaths, type Figures, type RunSpec } from "./lib/run-one.js";
import { metric, startServer, type BenchServer } from "./lib/servers.js";

export interface IngestOptions {
  readonly rates: readonly number[];
  readonly connections: number;
  readonly universe: number;
  readonly perConnection: number;
  readonly flushMs: number;
  readonly warmupSec: number;
  readonly measureSec: number;
  readonly storage: StreamStorage;
  /** quotecast variants: "1" (1 worker), "2" (2 workers), "2pw" (2 workers, --ingest per-worker). */
  readonly variants: readonly string[];
  /** Also run the bare counting subscriber. */
  readonly ceiling: boolean;
  /** Run quotecast under `node --cpu-prof` (the workers inherit it), one sub-directory per run. */
  readonly cpuProfDir?: string;
}

export const INGEST_DEFAULTS: IngestOptions = {
  rates: [10_000, 25_000, 50_000, 100_000, 200_000],
  connections: 1000,
  universe: 5000,
  perConnection: 20,
  flushMs: 50,
  warmupSec: 3,
  measureSec: 30,
  storage: "memory",
  variants: ["1", "2"],
  ceiling: true,
};

const SLICE_SEC = 5;

/** The QUOTES stream's last sequence: how many quotes NATS stored, whoever published them. */
async function lastSeq(nc: NatsConnection): Promise<number> {
  return (await (await jetstreamManager(nc)).streams.info("QUOTES")).state.last_seq;
}

/**
 * quotes_received_total over the workers; retried, since the primary's aggregation can time out
 * on a loaded machine (with the shared ingest its question to a worker queues behind the ingest
 * batches on the same IPC channel). NaN when it never answered: counted as 0, a count taken at the
 * window's start was subtracted from nothing and gave a negative rate ("taken in -11903/s").
 */
export async function receivedTotal(metricsText: () => Promise<string>, tries = 6, pauseMs = 200): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const text = await metricsText().catch(() => "");
    if (text.includes("quotecast_quotes_received_total")) return metric(text, "quotecast_quotes_received_total");
    await sleep(pauseMs);
  }
  return Number.NaN;
}

/** Quotes taken in per second over the window, per worker; NaN (shown as n/a) when a count is missing or went backwards (a worker restarted). */
export function takenInPerSec(counted: number, sec: number, workers: number): number {
  return Number.isFinite(counted) && counted >= 0 ? round(counted / sec / workers, 0) : Number.NaN;
}

type Record = (spec: RunSpec, f: Figures) => void;

/** Least-squares slope of `ys` over equally spaced slices, per second. */
export function slopePerSec(ys: readonly number[], sliceSec: number): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, i) => {
    num += (i - mx) * (y - my);
    den += (i - mx) ** 2;
  });
  return num / den / sliceSec;
}

/** Held: p99 age within flush + 100 ms, age not growing (under 5 ms per second), every final value delivered. */
export function ingestHeld(f: Figures, flushMs: number): boolean {
  return typeof f.p99Ms === "number" && f.p99Ms <= flushMs + 100 && typeof f.ageGrowthMsPerSec === "number" && f.ageGrowthMsPerSec < 5 && f.finalsOk !== false;
}

async function quotecastRun(rate: number, variant: string, o: IngestOptions, _log: (s: string) => void): Promise<Figures> {
  const workers = variant.startsWith("2") ? 2 : 1;
  const mode = variant.endsWith("pw") ? "per-worker" : "shared";
  const nats = await startNatsServer({ name: "qc-bench" });
  let server: BenchServer | undefined;
  let lg: LoadGenerator | undefined;
  let pub: Publisher | undefined;
  const f: Figures = { ingest: mode, storage: o.storage };
  try {
    server = await startServer("quotecast", {
      nats: nats.url,
      flushMs: o.flushMs,
      workers,
      quotesPerFrame: 0,
      symbolPeriodMs: 0,
      maxConnections: o.connections + 1000,
      env: { QUOTECAST_INGEST: mode, QUOTECAST_STREAM_STORAGE: o.storage },
      ...(o.cpuProfDir === undefined ? {} : { wrap: [process.execPath, "--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}/${rate}-${variant}`], stopGraceMs: 60_000 }),
    });
    if (o.connections > 0) {
      lg = await LoadGenerator.start(server.port, subscriptionPaths(o.connections, o.perConnection, o.universe), { slowShare: 0, openOn: "snapshot", universe: o.universe });
      f.opened = (await lg.open(100)).opened;
    }
    pub = await Publisher.start("nats", nats.url, rate, o.universe, "market", () => {});
    await sleep(o.warmupSec * 1000);
    const srv = server;
    const nc = await connect({ servers: nats.url });
    const none = async (): Promise<LoadTotals> => ({ events: 0, quotes: 0, bytes: 0, snapshots: 0, heartbeats: 0, dropped: 0, open: 0, cpuSec: 0, latency: new LatencyHistogram(), visibility: new LatencyHistogram(), delivered: 0 });
    const win = await measureWindow(
      () => lg?.mark() ?? none(),
      () => lg?.totals() ?? none(),
      { server: () => srv.usage().cpuSec, nats: () => treeUsage(nats.pid!).cpuSec, publisher: () => treeUsage(pub!.pid).cpuSec },
      () => receivedTotal(() => srv.metricsText()),
      () => lastSeq(nc),
      o.measureSec,
    ).finally(() => nc.close());
    Object.assign(f, win.figures);
    f.ingestedPerSec = takenInPerSec(win.counted, win.sec, workers);
    if (lg === undefined) {
      f.publishRate = round((await pub.stop()).published / (o.warmupSec + win.sec), 0);
      pub = undefined;
      f.finalsOk = null;
      return f;
    }
    // Final values: each connection must end up holding the last seq of each of its symbols. A
    // publisher that cannot drain its backlog (the machine could not take the rate) loses only
    // this check, not the window's figures.
    try {
      await lg.verify();
      await sleep(Math.max(600, (1000 * o.universe) / rate + 300));
      // Asked once: a second "stop" made a publisher still draining crash (DrainingConnectionError).
      const p = pub;
      pub = undefined;
      const stopped = await p.stop().catch((err: unknown) => {
        p.child.kill("SIGKILL");
        throw err;
      });
      f.publishRate = round(stopped.published / stopped.seconds, 0);
      const deadline = Date.now() + 10_000;
      let check = await lg.check(stopped.finals);
      while (check.current < check.total && Date.now() < deadline) {
        await sleep(500);
        check = await lg.check(stopped.finals);
      }
      f.finalsCurrent = check.current;
      f.finalsTotal = check.total;
      f.finalsOk = check.current === check.total;
      if (check.firstMiss) f.finalsFirstMiss = check.firstMiss;
    } catch (err) {
      f.finalsError = (err as Error).message.split("\n")[0]!;
      f.finalsOk = false;
    }
    return f;
  } finally {
    await lg?.close();
    if (pub) await pub.stop().catch(() => pub!.child.kill("SIGKILL"));
    await server?.stop();
    await nats.cleanup();
  }
}

async function ceilingRun(rate: number, o: IngestOptions): Promise<Figures> {
  const nats = await startNatsServer({ name: "qc-bench" });
  const nc = await connect({ servers: nats.url });
  let pub: Publisher | undefined;
  let sub: Awaited<ReturnType<typeof startCountingSubscriber>> | undefined;
  const f: Figures = { ingest: "counting subscriber", storage: o.storage };
  try {
    await createBenchStream(nc, o.storage);
    sub = await startCountingSubscriber(nats.url, "qc.live.quotes.>");
    pub = await Publisher.start("nats", nats.url, rate, o.universe, "market", () => {});
    await sleep(o.warmupSec * 1000);
    const s = sub;
    const asTotals = async (cmd: "mark" | "totals"): Promise<LoadTotals> => {
      const t = await countingTotals(s, cmd);
      const latency = new LatencyHistogram();
      latency.add(t.hist);
      return { events: 0, quotes: t.received, bytes: 0, snapshots: 0, heartbeats: 0, dropped: 0, open: 1, cpuSec: t.cpuSec, latency, visibility: new LatencyHistogram(), delivered: 0 };
    };
    const win = await measureWindow(
      () => asTotals("mark"),
      () => asTotals("totals"),
      { server: () => treeUsage(s.pid!).cpuSec, nats: () => treeUsage(nats.pid!).cpuSec, publisher: () => treeUsage(pub!.pid).cpuSec },
      async () => (await countingTotals(s, "totals")).received,
      () => lastSeq(nc),
      o.measureSec,
    );
    Object.assign(f, win.figures);
    f.ingestedPerSec = takenInPerSec(win.counted, win.sec, 1);
    f.finalsOk = null;
    // A publisher that cannot drain its backlog (at 200k/s here) loses its publish rate, not the
    // window's figures, which are what this run is for.
    const p = pub;
    pub = undefined;
    try {
      const stopped = await p.stop();
      f.publishRate = round(stopped.published / stopped.seconds, 0);
    } catch (err) {
      p.child.kill("SIGKILL");
      f.publishError = (err as Error).message.split("\n")[0]!;
    }
    return f;
  } finally {
    if (pub) await pub.stop().catch(() => pub!.child.kill("SIGKILL"));
    sub?.kill("SIGKILL");
    await nc.close().catch(() => undefined);
    await nats.cleanup();
  }
}

/**
 * The measurement window: CPU of each process, quotes counted (`count`), and the client-side
 * ages, in slices of SLICE_SEC whose p50s give the age's growth over the window.
 */
async function measureWindow(
  mark: () => Promise<LoadTotals>,
  totals: () => Promise<LoadTotals>,
  cpu: { server: () => number; nats: () => number; publisher: () => number },
  count: () => Promise<number>,
  stored: () => Promise<number>,
  measureSec: number,
): Promise<{ figures: Figures; counted: number; sec: number }> {
  const all = new LatencyHistogram();
  const sliceP50: number[] = [];
  const sliceP99: number[] = [];
  const c0 = { server: cpu.server(), nats: cpu.nats(), publisher: cpu.publisher() };
  const n0 = await count();
  const st0 = await stored();
  const busy = machineBusy();
  const t0 = performance.now();
  let base = await mark();
  let quotes = 0;
  let events = 0;
  const slices = Math.max(1, Math.round(measureSec / SLICE_SEC));
  for (let i = 0; i < slices; i++) {
    await sleep(SLICE_SEC * 1000);
    const t = await totals();
    all.add(t.latency.sparse());
    sliceP50.push(t.latency.quantile(0.5));
    sliceP99.push(t.latency.quantile(0.99));
    quotes += t.quotes - base.quotes;
    events += t.events - base.events;
    base = await mark();
  }
  // CPU and the stream first: the received counter comes from the primary's metrics, which can
  // take seconds to answer on a loaded machine, and those seconds are not the window's.
  const c1 = { server: cpu.server(), nats: cpu.nats(), publisher: cpu.publisher() };
  const storedN = (await stored()) - st0;
  const sec = (performance.now() - t0) / 1000;
  const counted = (await count()) - n0;
  const pct = (a: number, b: number) => round((100 * (b - a)) / sec, 1);
  // CPU per quote NATS stored: what a design costs, less sensitive than rates to what else runs.
  const usPer = (a: number, b: number) => (storedN > 0 ? round((1e6 * (b - a)) / storedN, 1) : NaN);
  return {
    sec,
    counted,
    figures: {
      deliveredPerSec: round(quotes / sec, 0),
      framesPerSec: round(events / sec, 0),
      p50Ms: all.quantile(0.5),
      p99Ms: all.quantile(0.99),
      maxMs: round(all.max, 0),
      sliceP50Ms: sliceP50.join("/"),
      sliceP99Ms: sliceP99.join("/"),
      ageGrowthMsPerSec: round(slopePerSec(sliceP50.filter((x) => Number.isFinite(x)), SLICE_SEC), 1),
      storedPerSec: round(storedN / sec, 0),
      serverCpuPct: pct(c0.server, c1.server),
      natsCpuPct: pct(c0.nats, c1.nats),
      publisherCpuPct: pct(c0.publisher, c1.publisher),
      serverUsPerQuote: usPer(c0.server, c1.server),
      natsUsPerQuote: usPer(c0.nats, c1.nats),
      publisherUsPerQuote: usPer(c0.publisher, c1.publisher),
      machineBusyPct: round(busy(), 1),
      load1: round(loadavg()[0] ?? 0, 2),
    },
  };
}

/** The whole scenario, in one run: each rate, each quotecast variant, then the ceiling. */
export async function runIngest(o: IngestOptions, record: Record, log: (s: string) => void): Promise<void> {
  const spec = (server: RunSpec["server"], rate: number, workers: number): RunSpec => ({
    scenario: "ingest",
    server,
    connections: server === "ceiling" ? 0 : o.connections,
    rate,
    flushMs: o.flushMs,
    universe: o.universe,
    perConnection: o.perConnection,
    slowShare: 0,
    warmupSec: o.warmupSec,
    measureSec: o.measureSec,
    workers,
    concurrency: 100,
  });
  // Every run's figures, also kept on their own (the runner writes runs.jsonl only without --no-write).
  const stamp = new Date().toISOString().slice(0, 16).replace(":", "-");
  const out = fileURLToPath(new URL(`../../../bench/results/${stamp}-ingest.json`, import.meta.url));
  const lines: { spec: RunSpec; figures: Figures }[] = [];
  for (const rate of o.rates) {
    const runs: [string, () => Promise<Figures>, RunSpec][] = o.variants.map((v) => [`quotecast ${v}`, () => quotecastRun(rate, v, o, log), spec("quotecast", rate, v.startsWith("2") ? 2 : 1)]);
    if (o.ceiling) runs.push(["counting subscriber", () => ceilingRun(rate, o), spec("ceiling", rate, 0)]);
    for (const [name, run, s] of runs) {
      log(`  ingest ${name}: feed ${rate}/s over ${o.universe} symbols, ${name.startsWith("quotecast") ? `${o.connections} connections × ${o.perConnection}, ` : ""}${o.storage} stream`);
      let f: Figures;
      try {
        f = await run();
      } catch (err) {
        f = { error: (err as Error).message.split("\n")[0]! };
      }
      f.held = f.error === undefined && ingestHeld(f, o.flushMs);
      log(
        f.error !== undefined
          ? `    failed: ${f.error}`
          : `    published ${f.publishRate === undefined ? `? (${f.publishError ?? "publisher did not stop"})` : `${f.publishRate}/s`}, stored ${f.storedPerSec}/s, taken in ${Number.isFinite(f.ingestedPerSec) ? `${f.ingestedPerSec}/s` : "n/a (no count from the metrics)"}, delivered ${f.deliveredPerSec} q/s, p50 ${f.p50Ms} p99 ${f.p99Ms} ms, age p50 by 5 s ${f.sliceP50Ms} (${f.ageGrowthMsPerSec} ms/s), CPU server ${f.serverCpuPct}% NATS ${f.natsCpuPct}% publisher ${f.publisherCpuPct}% (µs per stored quote ${f.serverUsPerQuote} / ${f.natsUsPerQuote} / ${f.publisherUsPerQuote}), machine ${f.machineBusyPct}%, finals ${f.finalsOk === null ? "n/a" : f.finalsError !== undefined ? `not checked (${f.finalsError})` : `${f.finalsCurrent}/${f.finalsTotal}`}${f.held ? ", held" : ""}`,
      );
      record(s, f);
      lines.push({ spec: s, figures: f });
      writeFileSync(out, JSON.stringify({ load1AtStart: loadavg()[0], options: o, runs: lines }, null, 1) + "\n");
    }
  }
}
