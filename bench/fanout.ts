// Scenario "fanout": N SSE subscribers on one server process, a steady feed, how many frames
// per second reach them, how fresh, and at what CPU and memory. quotecast runs with
// --workers 1 so that it is one process against one process (the question asked: "the
// frames/s it writes at 1,000 connections"); more workers would only split the same 2 cores.

import { availableParallelism } from "node:os";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { machineBusy, sleep, treeUsage } from "./lib/processes.js";
import type { Row, ScenarioResult } from "./lib/report.js";
import { SsePool } from "./lib/sse-client.js";
import { benchSymbols, startFeed, startTarget, type TargetKind } from "./lib/targets.js";

export interface FanoutOptions {
  readonly connections: number;
  /** "same": every connection takes the first `perConnection` symbols; "random": its own pick. */
  readonly mix: "same" | "random";
  readonly perConnection: number;
  readonly universe: number;
  readonly rate: number;
  readonly flushMs: number;
  readonly warmupSec: number;
  readonly durationSec: number;
  /** Every n-th connection parses its quotes for latency. */
  readonly sampleEvery: number;
}

interface Measured {
  opened: number;
  failed: number;
  firstError: string | undefined;
  connectSec: number;
  dropped: number;
  eventsPerSec: number;
  clientMBps: number;
  framesPerSec: number;
  serverMBps: number;
  p50: number;
  p99: number;
  max: number;
  quotesPerEvent: number;
  minPerConn: number;
  maxPerConn: number;
  serverCpu: number;
  serverRssMB: number;
  natsCpu: number;
  feedCpu: number;
  clientCpu: number;
  machineBusy: number;
  otherCpu: number;
  flushTickMs: number;
  ticksPerSec: number;
}

/** Small seeded PRNG (mulberry32): both servers must get exactly the same subscriptions. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The `symbols=` list of each of `count` connections. */
export function subscriptions(count: number, mix: "same" | "random", perConnection: number, universeSize: number): string[] {
  const universe = benchSymbols(universeSize);
  const rand = rng(7);
  return Array.from({ length: count }, () => {
    if (mix === "same") return universe.slice(0, perConnection).join(",");
    const pool = [...universe];
    const pick: string[] = [];
    while (pick.length < perConnection && pool.length > 0) pick.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]!);
    return pick.join(",");
  });
}

async function measure(kind: TargetKind, o: FanoutOptions, log: (s: string) => void): Promise<Measured> {
  const nats = await startNatsServer({ name: "qc-bench" });
  const subs = subscriptions(o.connections, o.mix, o.perConnection, o.universe);
  let pool: SsePool | undefined;
  let stopFeed: (() => Promise<void>) | undefined;
  let stopTarget: (() => Promise<void>) | undefined;
  try {
    const target = await startTarget(kind, { nats: nats.url, flushMs: o.flushMs, workers: 1 });
    stopTarget = () => target.stop();
    const feed = startFeed(nats.url, benchSymbols(o.universe), o.rate);
    stopFeed = () => feed.stop();
    pool = new SsePool(target.port);
    const open = await pool.open(o.connections, (i) => `/quotes?symbols=${subs[i]}`, o.sampleEvery);
    log(`  ${kind}: ${open.opened} connections open in ${open.seconds.toFixed(1)} s (${open.failed} failed${open.firstError ? `: ${open.firstError}` : ""})`);
    await sleep(o.warmupSec * 1000);

    const c0 = pool.mark();
    const s0 = await target.counters();
    const u0 = target.usage();
    const n0 = treeUsage(nats.pid!).cpuSec;
    const f0 = treeUsage(feed.proc.pid).cpuSec;
    const me0 = process.cpuUsage();
    const busy = machineBusy();
    const t0 = performance.now();
    await sleep(o.durationSec * 1000);
    const sec = (performance.now() - t0) / 1000;
    const me = process.cpuUsage(me0);
    const c1 = pool.totals;
    const s1 = await target.counters();
    const u1 = target.usage();
    const spread = pool.spread();
    const pct = (cpuSec: number) => (100 * cpuSec) / sec;
    const cores = availableParallelism();
    const accounted = pct(u1.cpuSec - u0.cpuSec) + pct(treeUsage(nats.pid!).cpuSec - n0) + pct(treeUsage(feed.proc.pid).cpuSec - f0) + pct((me.user + me.system) / 1e6);
    const machine = busy();
    return {
      opened: open.opened,
      failed: open.failed,
      firstError: open.firstError,
      connectSec: open.seconds,
      dropped: pool.dropped,
      eventsPerSec: (c1.quoteEvents - c0.quoteEvents) / sec,
      clientMBps: (c1.bytes - c0.bytes) / sec / 1e6,
      framesPerSec: (s1.framesSent - s0.framesSent) / sec,
      serverMBps: (s1.bytesSent - s0.bytesSent) / sec / 1e6,
      p50: pool.latency.quantile(0.5),
      p99: pool.latency.quantile(0.99),
      max: pool.latency.max,
      quotesPerEvent: (c1.sampledQuotes - c0.sampledQuotes) / Math.max(1, c1.sampledEvents - c0.sampledEvents),
      minPerConn: spread.min / sec,
      maxPerConn: spread.max / sec,
      serverCpu: pct(u1.cpuSec - u0.cpuSec),
      serverRssMB: u1.rssBytes / 1e6,
      natsCpu: pct(treeUsage(nats.pid!).cpuSec - n0),
      feedCpu: pct(treeUsage(feed.proc.pid).cpuSec - f0),
      clientCpu: pct((me.user + me.system) / 1e6),
      machineBusy: machine,
      // Anything else on the machine (another test run, the kernel's network work): when
      // large, the run was disturbed and its numbers are low for both servers.
      otherCpu: Math.max(0, machine * cores - accounted),
      flushTickMs: s1.flushes === undefined ? NaN : (1000 * (s1.flushSec! - s0.flushSec!)) / Math.max(1, s1.flushes - s0.flushes!),
      ticksPerSec: s1.flushes === undefined ? NaN : (s1.flushes - s0.flushes!) / sec,
    };
  } finally {
    pool?.close();
    await stopFeed?.();
    await stopTarget?.();
    await nats.cleanup();
  }
}

export async function runFanout(o: FanoutOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const name = o.mix === "same" ? "fanout" : "fanout-random";
  log(`${name}: ${o.connections} connections, ${o.mix === "same" ? `all on the same ${o.perConnection}` : `each on a random ${o.perConnection}`} of ${o.universe} symbols, feed ${o.rate}/s, ${o.durationSec} s`);
  const q = await measure("quotecast", o, log);
  const b = await measure("baseline", o, log);
  const row = (metric: string, key: keyof Measured, better: Row["better"], digits = 0): Row => ({
    metric,
    quotecast: q[key] as number,
    baseline: b[key] as number,
    better,
    digits,
  });
  const rows: Row[] = [
    row("connections open", "opened", "higher"),
    row("connections failed to open", "failed", "lower"),
    row("connections dropped during run", "dropped", "lower"),
    row("quotes events/s received (client)", "eventsPerSec", "higher"),
    row("frames/s written (server counter)", "framesPerSec", "higher"),
    row("MB/s received (client)", "clientMBps", "higher", 2),
    row("MB/s written (server counter)", "serverMBps", "none", 2),
    row("publish-to-receive p50 ms", "p50", "lower"),
    row("publish-to-receive p99 ms", "p99", "lower"),
    row("publish-to-receive max ms", "max", "lower"),
    row("quotes per event (sampled)", "quotesPerEvent", "none", 2),
    row("events/s of the slowest connection", "minPerConn", "higher", 1),
    row("events/s of the fastest connection", "maxPerConn", "none", 1),
    row("server CPU % (100 = one core)", "serverCpu", "lower", 1),
    {
      metric: "frames per server CPU-second",
      quotecast: q.framesPerSec / (q.serverCpu / 100),
      baseline: b.framesPerSec / (b.serverCpu / 100),
      better: "higher",
    },
    // Explains quotecast's cadence: its clock waits flushMs after each tick ends, so a tick's
    // duration adds to the time between two events on a connection.
    row("flush ticks/s (quotecast only; 1000/flushMs at best)", "ticksPerSec", "higher", 1),
    row("mean flush tick ms (quotecast only)", "flushTickMs", "lower", 2),
    row("server RSS MB (quotecast: primary + worker)", "serverRssMB", "lower", 1),
    row("nats-server CPU %", "natsCpu", "none", 1),
    row("feed CPU %", "feedCpu", "none", 1),
    row("bench client CPU %", "clientCpu", "none", 1),
    row("machine CPU busy % (100 = all cores)", "machineBusy", "none", 1),
    row("other CPU % (kernel, other processes)", "otherCpu", "none", 1),
  ];
  const details = [
    `Connect time: quotecast ${q.connectSec.toFixed(1)} s, baseline ${b.connectSec.toFixed(1)} s for ${o.connections} connections. ` +
      `Latency from the quote's \`ts\` to its arrival at every ${o.sampleEvery}th connection; it includes up to one ${o.flushMs} ms coalescing window by design.`,
  ];
  for (const [k, m] of [["quotecast", q], ["baseline", b]] as const) if (m.firstError) details.push(`${k}: first connection error: ${m.firstError}`);
  return {
    scenario: name,
    title: name === "fanout" ? "Fan-out: same symbol list on every connection" : "Fan-out: a random symbol list per connection",
    params: { connections: o.connections, symbolsPerConnection: o.perConnection, universe: o.universe, feedRate: o.rate, flushMs: o.flushMs, warmupSec: o.warmupSec, durationSec: o.durationSec, quotecastWorkers: 1 },
    rows,
    details,
  };
}
