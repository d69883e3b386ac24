// What NATS and the publishers reach on this machine, without quotecast: a publisher (the
// bench's, or `quotecast feed`) at a rate, the QUOTES stream, and bare counting subscribers
// (bench/loadgen/counting-subscriber.ts). Prints one line per rate: published/s (what NATS got,
// from a core subscriber's count or the stream's last sequence), received/s per subscriber, p99
// age, and the CPU of NATS, the publisher and the subscribers.
//
//   node build/bench/bench/ingest-probe.js --publisher bench|feed --rates 10000,50000 \
//     [--storage file|memory] [--subject live|core] [--subscribers 1] [--seconds 8]

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { LatencyHistogram } from "./loadgen/histogram.js";
import type { CountingTotals } from "./loadgen/counting-subscriber.js";
import { cleanupAll, installCleanupHooks, machineBusy, register, sleep, spawnManaged, treeUsage, type Managed } from "./lib/processes.js";
import { createBenchStream, type StreamStorage } from "./lib/bench-stream.js";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const CLI = fileURLToPath(new URL("../../../dist/cli.js", import.meta.url));

export interface ProbeOptions {
  readonly publisher: "bench" | "feed";
  readonly rate: number;
  readonly universe: number;
  /** "none": no QUOTES stream, core NATS only (what the publisher alone reaches). */
  readonly storage: StreamStorage | "none";
  readonly subject: "live" | "core";
  readonly subscribers: number;
  readonly warmupSec: number;
  readonly measureSec: number;
}

export interface ProbeFigures {
  publishedPerSec: number;
  storedPerSec: number;
  receivedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  natsCpuPct: number;
  publisherCpuPct: number;
  subscriberCpuPct: number;
  machineBusyPct: number;
}

function ask<R>(child: ChildProcess, msg: object): Promise<R> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(msg)}`)), 15_000);
    child.once("message", (r: R & { cmd: string; message?: string }) => {
      clearTimeout(t);
      if (r.cmd === "error") reject(new Error(r.message));
      else resolve(r);
    });
    child.send(msg);
  });
}

export function startCountingSubscriber(nats: string, subject: string): Promise<ChildProcess> {
  const child = fork(here("./loadgen/counting-subscriber.js"), ["--nats", nats, "--subject", subject], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  register("counting-subscriber", child);
  return new Promise((resolve, reject) => {
    child.once("message", (m: { cmd: string; message?: string }) => (m.cmd === "ready" ? resolve(child) : reject(new Error(m.message))));
    child.once("exit", (code) => reject(new Error(`counting subscriber exited (${code})`)));
  });
}

export async function countingTotals(child: ChildProcess, cmd: "mark" | "totals"): Promise<CountingTotals> {
  return ask<CountingTotals>(child, { cmd });
}

/** The simulator as users run it: `quotecast feed`. */
export function startFeedSimulator(nats: string, rate: number, universe: number): Managed {
  return spawnManaged("feed", process.execPath, [CLI, "feed", "--nats", nats, "--symbols", String(universe), "--rate", String(rate), "--seed", "1"], { LOG_LEVEL: "warn" });
}

export async function probe(o: ProbeOptions): Promise<ProbeFigures> {
  const nats = await startNatsServer({ name: "qc-probe" });
  const nc = await connect({ servers: nats.url });
  const subs: ChildProcess[] = [];
  let pub: { pid: number; stop: () => Promise<unknown> } | undefined;
  try {
    if (o.storage !== "none") await createBenchStream(nc, o.storage);
    const jsm = await jetstreamManager(nc);
    const lastSeq = async () => (o.storage === "none" ? 0 : (await jsm.streams.info("QUOTES")).state.last_seq);
    // Counts what NATS accepted, whatever the stream does with it.
    let corePublished = 0;
    nc.subscribe("quotes.>", { callback: () => void corePublished++ });
    for (let i = 0; i < o.subscribers; i++) subs.push(await startCountingSubscriber(nats.url, o.subject === "live" ? "qc.live.quotes.>" : "quotes.>"));
    if (o.publisher === "feed") {
      const m = startFeedSimulator(nats.url, o.rate, o.universe);
      pub = { pid: m.pid, stop: () => m.stop() };
    } else {
      const { Publisher } = await import("./lib/loadgen.js");
      const p = await Publisher.start("nats", nats.url, o.rate, o.universe, "market", () => {});
      pub = { pid: p.pid, stop: () => p.stop() };
    }
    await sleep(o.warmupSec * 1000);
    const c0 = corePublished;
    const s0 = await lastSeq();
    const r0 = await Promise.all(subs.map((s) => countingTotals(s, "mark")));
    const n0 = treeUsage(nats.pid!).cpuSec;
    const p0 = treeUsage(pub.pid).cpuSec;
    const busy = machineBusy();
    const t0 = performance.now();
    await sleep(o.measureSec * 1000);
    const r1 = await Promise.all(subs.map((s) => countingTotals(s, "totals")));
    const sec = (performance.now() - t0) / 1000;
    const hist = new LatencyHistogram();
    for (const r of r1) hist.add(r.hist);
    const f: ProbeFigures = {
      publishedPerSec: Math.round((corePublished - c0) / sec),
      storedPerSec: Math.round(((await lastSeq()) - s0) / sec),
      receivedPerSec: Math.round(r1.reduce((a, r, i) => a + r.received - r0[i]!.received, 0) / sec / Math.max(1, subs.length)),
      p50Ms: hist.quantile(0.5),
      p99Ms: hist.quantile(0.99),
      natsCpuPct: Math.round((100 * (treeUsage(nats.pid!).cpuSec - n0)) / sec),
      publisherCpuPct: Math.round((100 * (treeUsage(pub.pid).cpuSec - p0)) / sec),
      subscriberCpuPct: Math.round((100 * r1.reduce((a, r, i) => a + r.cpuSec - r0[i]!.cpuSec, 0)) / sec / Math.max(1, subs.length)),
      machineBusyPct: Math.round(busy()),
    };
    return f;
  } finally {
    await pub?.stop().catch(() => undefined);
    for (const s of subs) s.kill("SIGKILL");
    await nc.close().catch(() => undefined);
    await nats.cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      publisher: { type: "string", default: "bench" },
      rates: { type: "string", default: "10000,25000,50000,100000,200000" },
      universe: { type: "string", default: "5000" },
      storage: { type: "string", default: "file" },
      subject: { type: "string", default: "live" },
      subscribers: { type: "string", default: "1" },
      seconds: { type: "string", default: "8" },
    },
  });
  for (const rate of values.rates!.split(",").map(Number)) {
    const o: ProbeOptions = {
      publisher: values.publisher as "bench" | "feed",
      rate,
      universe: Number(values.universe),
      storage: values.storage as StreamStorage | "none",
      subject: values.subject as "live" | "core",
      subscribers: Number(values.subscribers),
      warmupSec: 2,
      measureSec: Number(values.seconds),
    };
    const f = await probe(o);
    process.stdout.write(`${o.publisher} ${rate}/s ${o.storage} ${o.subject} x${o.subscribers}: ${JSON.stringify(f)}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  installCleanupHooks(cleanupAll);
  main()
    .catch((err: unknown) => {
      process.stderr.write(`probe failed: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    })
    .finally(() => void cleanupAll().then(() => process.exit()));
}
