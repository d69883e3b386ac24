// One measured run: one server, one load, one NATS, started fresh and stopped after. The
// scenarios (bench/suite.ts) are sequences of these; each returns the figures that become one
// JSON line in bench/results/runs.jsonl.

import { loadavg } from "node:os";
import { startNatsServer } from "../../test/helpers/nats-server.js";
import { formatChangeRates } from "../../src/simulator/field-change-rates.js";
import { benchSymbols } from "../loadgen/symbols.js";
import { LoadGenerator, Publisher, type LoadTotals } from "./loadgen.js";
import { DEFAULT_MODE, type BenchMode } from "./modes.js";
import { machineBusy, sleep, treeUsage } from "./processes.js";
import { startServer, type BenchServer, type ServerKind } from "./servers.js";

export interface RunSpec {
  readonly scenario: string;
  readonly server: ServerKind;
  readonly connections: number;
  /** Feed quotes/s (0: no feed, idle connections). */
  readonly rate: number;
  readonly flushMs: number;
  readonly universe: number;
  readonly perConnection: number;
  readonly slowShare: number;
  readonly warmupSec: number;
  readonly measureSec: number;
  /** quotecast worker processes. */
  readonly workers: number;
  /** Connections opening at once, per load-generator process. */
  readonly concurrency: number;
  /** Extra phases run between the measurement and the final check. */
  readonly extra?: "storm" | "soak" | "idle";
  /** idle: seconds over which the least RSS is taken, before the connections and with them (default 30). */
  readonly idleSettleSec?: number;
  readonly soakSec?: number;
  /** Profiling only: how quotecast is started (see bench/profile.ts). */
  readonly wrap?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly stopGraceMs?: number;
  readonly standalone?: boolean;
  /** Clients send `Accept-Encoding: gzip` (quotecast compresses with `env: QUOTECAST_COMPRESSION=gzip`). */
  readonly acceptGzip?: boolean;
  /** Shared watchlists: connections take one of this many lists (round-robin) instead of each its own. */
  readonly lists?: number;
  /** quotecast: how updates are sent (default full quotes); see bench/lib/modes.ts. */
  readonly mode?: BenchMode;
  /** Subscriptions: each connection its own symbols (default), or one of this many shared lists. */
  readonly sharedLists?: number;
  /** The publisher's quotes (default `market`). */
  readonly mix?: "market" | "every-field";
  /** Which round of a repeated scenario this run is (bandwidth `--repeat`): rounds are merged into medians. */
  readonly round?: number;
}

export type Figures = Record<string, number | string | boolean | null>;

/**
 * Each figure's least value over `seconds`, sampled every second (a single reading of memory
 * lands anywhere in V8's garbage cycle).
 */
async function leastOver<K extends string>(seconds: number, sample: () => Record<K, number> | Promise<Record<K, number>>): Promise<Record<K, number>> {
  const low = { ...(await sample()) };
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    const s = await sample();
    for (const k of Object.keys(low) as K[]) low[k] = Math.min(low[k], s[k]);
  }
  return low;
}

/** quotecast's frames written and built so far (its metrics), where it exposes them. */
async function framesShared(server: { metricsText(): Promise<string> }): Promise<{ sent: number; built: number; writes: Map<number, number> } | undefined> {
  const text = await server.metricsText();
  const at = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    return m === null ? Number.NaN : Number(m[1]);
  };
  const sent = at("quotecast_frames_sent_total");
  const built = at("quotecast_frames_built_total");
  // Publish-to-write, the server's side of the age at arrival: cumulative counts per bound.
  const writes = new Map<number, number>();
  for (const m of text.matchAll(/^quotecast_publish_to_write_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) writes.set(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  return Number.isFinite(sent) && Number.isFinite(built) ? { sent, built, writes } : undefined;
}

/** The bound under which 99% of the publish-to-write latencies between two readings fell, in ms. */
function writeP99Ms(before: Map<number, number>, after: Map<number, number>): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return undefined;
  for (const le of bounds) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.99 * total) return le * 1000;
  return undefined;
}

/** Seeded PRNG (mulberry32): every server gets exactly the same subscriptions. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Each connection's request path: its own `perConnection` symbols of the universe, or (with
 * `sharedLists`) one of that many lists of `perConnection` symbols, as users of one app share
 * its watchlists. `query` is appended to each (a mode's `&delta=1`).
 */
export function subscriptionPaths(count: number, perConnection: number, universeSize: number, sharedLists = 0, query = ""): string[] {
  const universe = benchSymbols(universeSize);
  const rand = rng(7);
  const draw = () => {
    const pool = [...universe];
    const pick: string[] = [];
    while (pick.length < perConnection && pool.length > 0) pick.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]!);
    return `/quotes?symbols=${pick.join(",")}${query}`;
  };
  if (sharedLists > 0) {
    const lists = Array.from({ length: sharedLists }, draw);
    return Array.from({ length: count }, () => lists[Math.floor(rand() * lists.length)]!);
  }
  return Array.from({ length: count }, draw);
}

/**
 * Quotes in one frame of a connection: with the round-robin publisher each symbol changes every
 * universe/rate seconds, so a window holds all of them once that is shorter than the window.
 */
export function quotesPerFrame(rate: number, flushMs: number, universe: number, perConnection: number): number {
  if (rate === 0) return 0;
  return Math.max(1, Math.round(perConnection * Math.min(1, ((rate / universe) * flushMs) / 1000)));
}

const MB = 1e6;
const RSS_GUARD = 3e9;
/** Longest wait for V8 to hand back the young generation a connection burst grew. */
const YOUNG_WAIT_SEC = 120;

/**
 * Seconds until the server's young generation is back within 2 MB of `before` (V8 grows it to
 * its largest in a burst of connections and shrinks it in its own time), or undefined when it
 * is not within YOUNG_WAIT_SEC.
 */
async function youngReturned(server: BenchServer, before: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < YOUNG_WAIT_SEC * 1000) {
    const young = await server.youngGeneration();
    if (young !== undefined && young <= before + 2 * MB) return (performance.now() - t0) / 1000;
    await sleep(1000);
  }
  return undefined;
}

export async function runOne(spec: RunSpec, log: (s: string) => void): Promise<Figures> {
  const needsNats = spec.server !== "ceiling" && spec.server !== "nchan";
  const nats = needsNats ? await startNatsServer({ name: "qc-bench" }) : undefined;
  let server: BenchServer | undefined;
  let pub: Publisher | undefined;
  let lg: LoadGenerator | undefined;
  const f: Figures & { serverRssIdleMB?: number } = {};
  try {
    server = await startServer(spec.server, {
      nats: nats?.url ?? "",
      flushMs: spec.flushMs,
      workers: spec.workers,
      quotesPerFrame: quotesPerFrame(spec.rate, spec.flushMs, spec.universe, spec.perConnection),
      symbolPeriodMs: spec.rate > 0 ? (1000 * spec.universe) / spec.rate : spec.flushMs,
      maxConnections: spec.connections + 1000,
      ...(spec.wrap ? { wrap: spec.wrap } : {}),
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.mode && spec.mode.serverArgs.length > 0 ? { extraArgs: spec.mode.serverArgs } : {}),
      ...(spec.stopGraceMs ? { stopGraceMs: spec.stopGraceMs } : {}),
      ...(spec.standalone ? { standalone: true } : {}),
    });
    await sleep(1000);
    const settleSec = spec.idleSettleSec ?? 30;
    const started = server;
    const rssNow = () => ({ rssBytes: started.usage().rssBytes });
    // The idle scenario settles the baseline as it settles the figure with connections (below):
    // the least RSS over the same window, so start-up garbage is not credited to connections.
    const idle0 = spec.extra === "idle" ? await leastOver(settleSec, rssNow) : server.usage();
    f.serverRssIdleMB = round(idle0.rssBytes / MB, 1);
    const young0 = spec.extra === "idle" ? await server.youngGeneration() : undefined;
    const heap0 = await server.heapUsed();
    if (heap0 !== undefined) f.serverHeapIdleMB = heap0 / MB;
    const mode = spec.server === "quotecast" ? (spec.mode ?? DEFAULT_MODE) : DEFAULT_MODE;
    const paths = subscriptionPaths(spec.connections, spec.perConnection, spec.universe, spec.sharedLists ?? spec.lists ?? 0, mode.query);
    lg = await LoadGenerator.start(server.port, paths, { slowShare: spec.slowShare, openOn: server.openOn, universe: spec.universe, headers: mode.headers, ...(spec.acceptGzip === true ? { acceptGzip: true } : {}) });
    const loadgen = lg;
    const open = await lg.open(spec.concurrency);
    f.opened = open.opened;
    f.openFailed = open.failed;
    f.connectSec = round(open.seconds, 2);
    if (open.firstError) f.firstError = open.firstError;
    log(`    ${spec.server}: ${open.opened}/${spec.connections} open in ${open.seconds.toFixed(1)} s${open.failed ? ` (${open.failed} failed: ${open.firstError})` : ""}`);

    // The feed starts once every connection is open: connecting is measured on its own (and
    // in the storm scenario), the window below is steady state only.
    if (spec.rate > 0 && server.publishTo !== "none") {
      pub = await Publisher.start(server.publishTo, server.publishTo === "nats" ? nats!.url : `http://127.0.0.1:${server.port}`, spec.rate, spec.universe, spec.mix ?? "market", (log) => loadgen.pubTimes(log));
    }

    if (spec.extra === "idle") {
      // Right after the connection burst, RSS still holds the burst's garbage and a young
      // generation grown to its largest; V8 hands that back after some idle seconds. The figure
      // judged is the settled one: the least RSS seen over the settle window, every connection
      // still open. The one 3 s after the burst is kept beside it.
      await sleep(3000);
      const early = server.usage();
      f.rssPerConnEarlyKB = round((early.rssBytes - idle0.rssBytes) / 1024 / Math.max(1, open.opened), 2);
      // When V8 hands the young generation back is up to its memory reducer: 10 to 40 s after
      // the burst here, so a fixed window read 2.2 or 6.2 KB per connection for the same build.
      // Where the server reports its young generation, the window starts once it is back to its
      // size before the connections (at most YOUNG_WAIT_SEC after the burst).
      if (young0 !== undefined) {
        const waited = await youngReturned(server, young0);
        f.youngReturnedSec = waited === undefined ? null : round(3 + waited, 0);
        log(`    ${spec.server}: young generation ${waited === undefined ? `not back within ${YOUNG_WAIT_SEC} s` : `back to its size before the connections ${round(3 + waited, 0)} s after the burst`}`);
      }
      const least = Math.min(young0 === undefined ? early.rssBytes : Number.POSITIVE_INFINITY, (await leastOver(settleSec, rssNow)).rssBytes);
      f.serverRssMB = least / MB;
      f.rssPerConnKB = round((least - idle0.rssBytes) / 1024 / Math.max(1, open.opened), 2);
      const heap = await server.heapUsed();
      if (heap !== undefined && heap0 !== undefined) f.heapPerConnKB = round((heap - heap0) / 1024 / Math.max(1, open.opened), 2);
      log(`    ${spec.server}: RSS ${f.serverRssIdleMB.toFixed(1)} → ${(least / MB).toFixed(1)} MB settled over ${settleSec} s: ${f.rssPerConnKB} KB per connection (${f.rssPerConnEarlyKB} KB 3 s after the burst)${f.heapPerConnKB === undefined ? "" : `, V8 heap ${f.heapPerConnKB} KB`}`);
      return f;
    }

    await sleep(spec.warmupSec * 1000);
    if (spec.extra === "storm") {
      // Every client drops at once and reconnects at once; the measurement window follows.
      const storm = await lg.open(1000, true);
      f.stormReopened = storm.opened;
      f.stormFailed = storm.failed;
      f.stormSec = round(storm.seconds, 2);
      log(`    ${spec.server}: storm, ${storm.opened}/${spec.connections} back in ${storm.seconds.toFixed(1)} s${storm.failed ? ` (${storm.failed} failed: ${storm.firstError})` : ""}`);
    }
    let soakSamples: string | undefined;
    if (spec.extra === "soak") {
      const s = await soak(server, lg, spec.soakSec ?? 60, log);
      Object.assign(f, s.figures);
      soakSamples = s.samples;
    }

    const base = await lg.mark();
    const ticks0 = await server.ticks(spec.flushMs / 1000);
    const shared0 = await framesShared(server);
    const s0 = server.usage();
    const p0 = pub ? treeUsage(pub.pid).cpuSec : 0;
    const n0 = nats ? treeUsage(nats.pid!).cpuSec : 0;
    const busy = machineBusy();
    const t0 = performance.now();
    // A server that buffers without bound (the naive one) could take the shared machine's
    // memory: past RSS_GUARD the window ends early and the run is marked overloaded.
    while (performance.now() - t0 < spec.measureSec * 1000) {
      await sleep(500);
      if (server.usage().rssBytes > RSS_GUARD) {
        f.overloaded = `server RSS over ${RSS_GUARD / 1e9} GB after ${((performance.now() - t0) / 1000).toFixed(1)} s: window cut short`;
        log(`    ${f.overloaded}`);
        break;
      }
    }
    const end = await lg.totals();
    const sec = (performance.now() - t0) / 1000;
    const s1 = server.usage();
    const pct = (cpu: number) => round((100 * cpu) / sec, 1);
    Object.assign(f, windowFigures(base, end, sec));
    f.serverCpuPct = pct(s1.cpuSec - s0.cpuSec);
    const frames = end.events - base.events;
    f.cpuPerFrameUs = frames > 0 ? round((1e6 * (s1.cpuSec - s0.cpuSec)) / frames, 2) : null;
    f.serverRssMB = round(s1.rssBytes / MB, 1);
    // Memory per connection under the feed: RSS (and V8 heap) at the window's end over before any connection.
    f.rssPerConnBusyKB = round((s1.rssBytes - idle0.rssBytes) / 1024 / Math.max(1, open.opened), 2);
    const heap = await server.heapUsed();
    if (heap !== undefined) f.serverHeapMB = round(heap / MB, 1);
    if (heap !== undefined && heap0 !== undefined) f.heapPerConnBusyKB = round((heap - heap0) / 1024 / Math.max(1, open.opened), 2);
    const ticks1 = await server.ticks(spec.flushMs / 1000);
    const shared1 = await framesShared(server);
    if (shared0 !== undefined && shared1 !== undefined && shared1.built > shared0.built) {
      // How many connections shared each frame built: in-step group members share one.
      f.framesPerBuilt = round((shared1.sent - shared0.sent) / (shared1.built - shared0.built), 2);
      // The server's p99 publish-to-write, as a histogram bound: beside the client's p99 age, it
      // says whether a quote waited in the server or after the write (socket, client).
      const w = writeP99Ms(shared0.writes, shared1.writes);
      if (w !== undefined) f.serverWriteP99Ms = w;
    }
    if (ticks0 !== undefined && ticks1 !== undefined && ticks1.count > ticks0.count) {
      // How long quotecast's flush ticks took: beside p99, it says whether the worker kept up.
      const n = ticks1.count - ticks0.count;
      f.tickMeanMs = round((1000 * (ticks1.sec - ticks0.sec)) / n, 1);
      f.ticksOverFlushPct = round((100 * (ticks1.over - ticks0.over)) / n, 1);
    }
    f.loadgenCpuPct = pct(end.cpuSec - base.cpuSec);
    f.publisherCpuPct = pub ? pct(treeUsage(pub.pid).cpuSec - p0) : 0;
    f.natsCpuPct = nats ? pct(treeUsage(nats.pid!).cpuSec - n0) : 0;
    f.machineBusyPct = round(busy(), 1);
    f.load1 = round(loadavg()[0] ?? 0, 2);
    if (soakSamples) f.soakSamples = soakSamples;

    // Final values: from now on every connection reads each quote's sym and seq (slow ones
    // resume reading); every symbol is published again within universe/rate seconds, then
    // the feed stops and each connection must hold each of its symbols' last seq.
    if (pub) {
      await lg.verify();
      await sleep(Math.max(600, (1000 * spec.universe) / spec.rate + 300));
      const stopped = await pub.stop();
      pub = undefined;
      f.published = stopped.published;
      if (stopped.behind > 0) f.publishFailed = stopped.behind;
      f.publishRate = round(stopped.published / stopped.seconds, 0);
      // Beside every bandwidth figure: how often each field of the feed changed.
      f.fieldChangeRates = formatChangeRates(stopped.fieldRates);
      const deadline = Date.now() + 8_000;
      let check = await lg.check(stopped.finals);
      while (check.current + check.closed < check.total && Date.now() < deadline) {
        await sleep(500);
        check = await lg.check(stopped.finals);
      }
      f.finalsCurrent = check.current;
      f.finalsTotal = check.total;
      // Connections the server closed (slow consumers): a real client reconnects with its
      // Last-Event-ID; they are counted apart.
      f.finalsClosed = check.closed;
      f.finalsOk = check.current === check.total;
      if (check.firstMiss) f.finalsFirstMiss = check.firstMiss;
    } else {
      f.finalsOk = null; // the ceiling has no feed: nothing to check
    }
    return f;
  } finally {
    await lg?.close();
    if (pub) await pub.stop().catch(() => pub!.child.kill("SIGKILL"));
    await server?.stop();
    await nats?.cleanup();
  }
}

function windowFigures(a: LoadTotals, b: LoadTotals, sec: number): Figures {
  const h = b.latency;
  return {
    open: b.open,
    dropped: b.dropped,
    framesPerSec: round((b.events - a.events) / sec, 0),
    deliveredPerSec: round((b.delivered - a.delivered) / sec, 0),
    // Body bytes (after chunked decoding) per quote object delivered, and per open connection per second.
    bytesPerQuote: b.delivered > a.delivered ? round((b.bytes - a.bytes) / (b.delivered - a.delivered), 1) : null,
    bytesPerConnSec: b.open > 0 ? round((b.bytes - a.bytes) / sec / b.open, 0) : null,
    quotesPerSec: round((b.quotes - a.quotes) / sec, 0),
    quotesPerFrame: round((b.quotes - a.quotes) / Math.max(1, b.events - a.events), 2),
    clientMBps: round((b.bytes - a.bytes) / sec / MB, 2),
    // gzip streams: the bytes they carried, decompressed (0 when none was compressed).
    clientPlainMBps: round(((b.plainBytes ?? 0) - (a.plainBytes ?? 0)) / sec / MB, 2),
    p50Ms: h.quantile(0.5),
    p99Ms: h.quantile(0.99),
    p999Ms: h.quantile(0.999),
    maxMs: round(h.max, 0),
    latencySamples: h.count,
    visP50Ms: b.visibility.count > 0 ? b.visibility.quantile(0.5) : null,
    visP99Ms: b.visibility.count > 0 ? b.visibility.quantile(0.99) : null,
    visMaxMs: b.visibility.count > 0 ? round(b.visibility.max, 0) : null,
    visSamples: b.visibility.count,
  };
}

/**
 * Soak: connections come and go for `seconds` under the feed; RSS and heap sampled every 5 s.
 * Before and after are each the least seen over a window under the same feed (10 s before, 30 s
 * after).
 */
async function soak(server: BenchServer, lg: LoadGenerator, seconds: number, log: (s: string) => void): Promise<{ figures: Figures; samples: string }> {
  const sample = async () => ({ rss: server.usage().rssBytes / MB, heap: ((await server.heapUsed()) ?? NaN) / MB });
  const before = await leastOver(10, sample);
  const samples: string[] = [`before (least over 10 s) rss ${before.rss.toFixed(1)} heap ${before.heap.toFixed(1)}`];
  let peakRss = before.rss;
  await lg.churn(0.1);
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    await sleep(5000);
    const s = await sample();
    peakRss = Math.max(peakRss, s.rss);
    samples.push(`${Math.round((Date.now() - t0) / 1000)}s rss ${s.rss.toFixed(1)} heap ${s.heap.toFixed(1)}`);
  }
  const churned = await lg.stopChurn();
  const after = await leastOver(30, sample);
  samples.push(`after (least over 30 s) rss ${after.rss.toFixed(1)} heap ${after.heap.toFixed(1)}`);
  log(`    soak: ${churned.reopened} reconnects (${churned.failed} failed); rss ${before.rss.toFixed(1)} → peak ${peakRss.toFixed(1)} → ${after.rss.toFixed(1)} MB; heap ${before.heap.toFixed(1)} → ${after.heap.toFixed(1)} MB`);
  return {
    figures: {
      soakSec: seconds,
      soakReconnects: churned.reopened,
      soakReconnectFailed: churned.failed,
      soakRssBeforeMB: round(before.rss, 1),
      soakRssPeakMB: round(peakRss, 1),
      soakRssAfterMB: round(after.rss, 1),
      soakHeapBeforeMB: round(before.heap, 1),
      soakHeapAfterMB: round(after.heap, 1),
    },
    samples: samples.join("; "),
  };
}

export function round(n: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(n * k) / k;
}
