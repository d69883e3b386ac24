// Scenario "ingest": how many quotes per second one server process takes in from NATS. The feed
// runs at increasing rates, a step each; a few SSE connections stay subscribed so that the
// server also fans out, as it would in production.
//
// quotecast follows a JetStream stream that keeps one message per subject. When it falls
// behind, superseded quotes are gone from the stream before it reads them, so it receives
// fewer messages but still the latest of each symbol: "received < published" is conflation,
// not loss of current prices. The stream's last sequence shows what JetStream stored; the
// latency of the sampled connections shows whether the prices clients see stay fresh.

import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { subscriptions } from "./fanout.js";
import { machineBusy, sleep, treeUsage } from "./lib/processes.js";
import { fmt, type Row, type ScenarioResult } from "./lib/report.js";
import { SsePool } from "./lib/sse-client.js";
import { benchSymbols, startFeed, startTarget, type TargetKind } from "./lib/targets.js";

export interface IngestOptions {
  readonly rates: readonly number[];
  readonly stepSec: number;
  readonly universe: number;
  readonly connections: number;
  readonly flushMs: number;
  /** received/published at or above this counts as keeping up. */
  readonly keepUp: number;
  /** p99 publish-to-receive at or below this counts as fresh (ms). */
  readonly freshP99Ms: number;
}

interface Step {
  target: number;
  published: number;
  publishRate: number;
  skipped: number;
  stored: number;
  received: number;
  receivedRate: number;
  serverCpu: number;
  natsCpu: number;
  feedCpu: number;
  machineBusy: number;
  clientCpu: number;
  p50: number;
  p99: number;
}

/** Time after the feed stops for the server to finish what NATS already delivered. */
const SETTLE_MS = 1000;

async function measure(kind: TargetKind, o: IngestOptions, log: (s: string) => void): Promise<Step[]> {
  const nats = await startNatsServer({ name: "qc-bench" });
  const nc = await connect({ servers: nats.url });
  let pool: SsePool | undefined;
  let stopTarget: (() => Promise<void>) | undefined;
  try {
    const target = await startTarget(kind, { nats: nats.url, flushMs: o.flushMs, workers: 1 });
    stopTarget = () => target.stop();
    const jsm = await jetstreamManager(nc);
    // Both servers are read the same way; the stream exists for both (the feed creates it).
    const lastSeq = async () => (await jsm.streams.info("QUOTES").catch(() => undefined))?.state.last_seq ?? 0;
    pool = new SsePool(target.port);
    const subs = subscriptions(o.connections, "random", 10, o.universe);
    await pool.open(o.connections, (i) => `/quotes?symbols=${subs[i]}`, 1);
    const steps: Step[] = [];
    for (const rate of o.rates) {
      const s0 = await target.counters();
      const q0 = await lastSeq();
      const u0 = target.usage().cpuSec;
      const n0 = treeUsage(nats.pid!).cpuSec;
      const busy = machineBusy();
      const me0 = process.cpuUsage();
      const t0 = performance.now();
      const feed = startFeed(nats.url, benchSymbols(o.universe), rate, o.stepSec);
      // Latency from the second second on: the feed's own start-up (a Node process compiling
      // its code on the shared cores) is not the server's steady state.
      const marker = setTimeout(() => pool!.mark(), 1000);
      // The feed's /proc entry vanishes when it exits, so its CPU is sampled while it runs.
      const feedSamples: { t: number; cpu: number }[] = [];
      const sampler = setInterval(() => feedSamples.push({ t: performance.now(), cpu: treeUsage(feed.proc.pid).cpuSec }), 250);
      const fed = await feed.finished().finally(() => {
        clearTimeout(marker);
        clearInterval(sampler);
      });
      const fs = feedSamples.filter((x) => x.cpu > 0);
      const feedCpu = fs.length < 2 ? NaN : (100 * (fs[fs.length - 1]!.cpu - fs[0]!.cpu)) / ((fs[fs.length - 1]!.t - fs[0]!.t) / 1000);
      await sleep(SETTLE_MS);
      const sec = (performance.now() - t0) / 1000;
      const s1 = await target.counters();
      const received = s1.quotesReceived - s0.quotesReceived;
      const step: Step = {
        target: rate,
        published: fed.published,
        publishRate: fed.published / fed.seconds,
        skipped: fed.skipped,
        stored: (await lastSeq()) - q0,
        received,
        receivedRate: received / fed.seconds,
        serverCpu: (100 * (target.usage().cpuSec - u0)) / sec,
        natsCpu: (100 * (treeUsage(nats.pid!).cpuSec - n0)) / sec,
        feedCpu,
        machineBusy: busy(),
        clientCpu: (100 * ((u) => u.user + u.system)(process.cpuUsage(me0))) / 1e6 / sec,
        p50: pool.latency.quantile(0.5),
        p99: pool.latency.quantile(0.99),
      };
      steps.push(step);
      log(`  ${kind} @ ${fmt(rate)}/s: published ${fmt(step.publishRate)}/s, received ${fmt(step.receivedRate)}/s (${((100 * received) / fed.published).toFixed(0)}%), server CPU ${step.serverCpu.toFixed(0)}%, NATS ${step.natsCpu.toFixed(0)}%, feed ${step.feedCpu.toFixed(0)}%, machine ${step.machineBusy.toFixed(0)}%, p99 ${step.p99} ms`);
    }
    return steps;
  } finally {
    pool?.close();
    await stopTarget?.();
    await nc.close().catch(() => undefined);
    await nats.cleanup();
  }
}

/** Highest achieved publish rate at which the server received at least `keepUp` of it. */
function sustained(steps: readonly Step[], keepUp: number): number {
  let best = 0;
  for (const s of steps) if (s.received >= keepUp * s.published) best = Math.max(best, s.publishRate);
  return best;
}

/** Highest achieved publish rate at which clients still got prices within `p99Ms` (p99). */
function fresh(steps: readonly Step[], p99Ms: number): number {
  let best = 0;
  for (const s of steps) if (s.p99 <= p99Ms) best = Math.max(best, s.publishRate);
  return best;
}

export async function runIngest(o: IngestOptions, log: (s: string) => void): Promise<ScenarioResult> {
  log(`ingest: feed at ${o.rates.map((r) => fmt(r)).join(", ")} quotes/s over ${o.universe} symbols, ${o.stepSec} s each, ${o.connections} connections`);
  const q = await measure("quotecast", o, log);
  const b = await measure("baseline", o, log);
  const max = (steps: Step[], k: keyof Step) => Math.max(...steps.map((s) => s[k]));
  const rows: Row[] = [
    { metric: `max sustained publish rate, received ≥ ${o.keepUp * 100}% (quotes/s)`, quotecast: sustained(q, o.keepUp), baseline: sustained(b, o.keepUp), better: "higher" },
    // What a ticker's users see: quotecast may skip superseded quotes, but not serve stale ones.
    { metric: `max publish rate with p99 publish-to-receive ≤ ${o.freshP99Ms} ms (quotes/s)`, quotecast: fresh(q, o.freshP99Ms), baseline: fresh(b, o.freshP99Ms), better: "higher" },
    { metric: "highest receive rate seen (quotes/s)", quotecast: max(q, "receivedRate"), baseline: max(b, "receivedRate"), better: "higher" },
  ];
  const table = [
    "| target/s | server | published/s | JetStream stored/s | received/s | received % | server CPU % | NATS CPU % | feed CPU % | bench CPU % | machine busy % | p50 ms | p99 ms |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (let i = 0; i < o.rates.length; i++) {
    for (const [name, s] of [["quotecast", q[i]], ["baseline", b[i]]] as const) {
      if (s === undefined) continue;
      const per = s.published / s.publishRate;
      table.push(
        `| ${fmt(s.target)} | ${name} | ${fmt(s.publishRate)} | ${fmt(s.stored / per)} | ${fmt(s.receivedRate)} | ${((100 * s.received) / s.published).toFixed(1)} | ${s.serverCpu.toFixed(0)} | ${s.natsCpu.toFixed(0)} | ${s.feedCpu.toFixed(0)} | ${s.clientCpu.toFixed(0)} | ${s.machineBusy.toFixed(0)} | ${s.p50} | ${s.p99} |`,
      );
    }
  }
  return {
    scenario: "ingest",
    title: "Ingest: quotes per second one server process takes in",
    params: { rates: o.rates.join("/"), freshP99Ms: o.freshP99Ms, stepSec: o.stepSec, universe: o.universe, connections: o.connections, flushMs: o.flushMs, quotecastWorkers: 1 },
    rows,
    details: [
      table.join("\n"),
      "Rates are over the feed's own publishing time. quotecast follows what the JetStream stream republishes (every " +
        "stored quote, with its stream sequence), so the file store is in its path; the baseline subscribes to core NATS. " +
        "p50/p99 are publish-to-receive at the subscribed connections.",
    ],
  };
}
