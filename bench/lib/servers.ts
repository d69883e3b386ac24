// The servers a run races, behind one interface: quotecast and its three baselines (ceiling,
// naive, nchan), plus the older hand-written coalescing Node server ("node-coalescing").
// Each starts on a free port, says how clients know a stream is open and where the
// publisher must send quotes, and reports its CPU, RSS and (where it can) heap.

import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { freePorts } from "../../scripts/lib/ports.mjs";
import { findNginxWithNchan, writeNchanConfig } from "../baseline/nchan.js";
import { sleep, spawnManaged, treeUsage, type Managed } from "./processes.js";

export const SERVER_KINDS = ["quotecast", "ceiling", "naive", "nchan", "node-coalescing"] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
/** quotecast as users run it; compiled by `npm run build`. */
const CLI = fileURLToPath(new URL("../../../../dist/cli.js", import.meta.url));

/** Sum of the samples of `name` (no labels, or all label sets) in Prometheus text. */
export function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(name + " ") || line.startsWith(name + "{")) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

export interface BenchServer {
  readonly kind: ServerKind;
  readonly port: number;
  readonly proc: Managed;
  readonly openOn: "snapshot" | "headers";
  /** Where the publisher sends quotes; "none" for the ceiling, which makes its own. */
  readonly publishTo: "nats" | "nchan" | "none";
  /** CPU seconds and RSS of the server and its children (cluster worker, nginx worker). */
  usage(): { cpuSec: number; rssBytes: number };
  /** V8 heap used, bytes, where the server exposes it (quotecast's metrics). */
  heapUsed(): Promise<number | undefined>;
  /** V8's young generation (new space) as committed, bytes, summed over the server's processes (quotecast's metrics). */
  youngGeneration(): Promise<number | undefined>;
  /** quotecast: flush ticks so far, their total seconds, and how many took longer than `overSec` (a histogram bound). */
  ticks(overSec: number): Promise<{ count: number; sec: number; over: number } | undefined>;
  /** quotecast: its Prometheus text ("" for the others). */
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

export interface ServerOptions {
  readonly nats: string;
  readonly flushMs: number;
  /** quotecast: worker processes (the baselines are one process each). */
  readonly workers: number;
  /** ceiling: quotes per prebuilt frame, to match quotecast's frame size. */
  readonly quotesPerFrame: number;
  /** ceiling: ms between two updates of one symbol (universe / feed rate). */
  readonly symbolPeriodMs: number;
  readonly maxConnections: number;
  /** quotecast: the command line before `dist/cli.js serve` (a profiler), and extra environment. */
  readonly wrap?: readonly string[];
  /** quotecast: extra `serve` flags (a bench mode's). */
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** quotecast: run one worker without the cluster primary (bench/lib/standalone-worker.ts). */
  readonly standalone?: boolean;
  /** How long stop() waits for a clean exit (a profiler writes its report then). */
  readonly stopGraceMs?: number;
}

export async function startServer(kind: ServerKind, o: ServerOptions): Promise<BenchServer> {
  // Two at once: freePort() can hand back the port it returned a moment ago (often, once the
  // last run's connections wait in TIME_WAIT), and quotecast refuses a metrics port equal to its
  // port (a capacity search lost its steps above 14,000 connections to that).
  const [port, spare] = (await freePorts(2)) as [number, number];
  const node = (name: string, file: string, args: string[], env: NodeJS.ProcessEnv = {}) => spawnManaged(name, process.execPath, [here(file), ...args], env);
  let proc: Managed;
  let metricsPort = 0;
  switch (kind) {
    case "quotecast":
      metricsPort = spare;
      proc = spawnManaged("quotecast", o.wrap?.[0] ?? process.execPath, [
        ...(o.wrap === undefined ? [] : o.wrap.slice(1)),
        ...(o.standalone ? [here("./standalone-worker.js")] : [CLI, "serve"]), "--port", String(port), "--host", "127.0.0.1", "--metrics-port", String(metricsPort),
        "--nats", o.nats, "--workers", String(o.workers), "--flush-ms", String(o.flushMs),
        // Thousands of connections from four loopback addresses in seconds: the per-address
        // caps that protect production would refuse most of them.
        "--max-connections-per-ip", "1000000", "--max-connect-rate-per-ip", "0", "--max-connect-rate", "0",
        "--max-connections", "1000000", "--drain-ms", "0", ...(o.extraArgs ?? []),
      ], { LOG_LEVEL: "warn", ...o.env });
      break;
    case "ceiling":
      proc = node("ceiling", "../baseline/ceiling.js", ["--port", String(port), "--flush-ms", String(o.flushMs), "--quotes", String(o.quotesPerFrame), "--period-ms", String(o.symbolPeriodMs)]);
      break;
    case "naive":
      proc = node("naive", "../baseline/naive.js", ["--port", String(port), "--nats", o.nats]);
      break;
    case "node-coalescing":
      proc = node("node-coalescing", "../baseline/node-sse-server.js", ["--port", String(port), "--nats", o.nats, "--flush-ms", String(o.flushMs)]);
      break;
    case "nchan": {
      const nginx = findNginxWithNchan();
      if (nginx === undefined) throw new Error("nginx with nchan is not installed");
      const dir = writeNchanConfig(port, o.maxConnections);
      proc = spawnManaged("nchan", nginx, ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`]);
      break;
    }
  }
  await waitReady(proc, port);
  // Only quotecast has metrics, and a standalone worker serves none (no metrics port).
  const scraped = kind === "quotecast" && !o.standalone;
  const scrape = async (): Promise<string> => (scraped ? (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text() : "");
  return {
    kind,
    port,
    proc,
    openOn: kind === "nchan" ? "headers" : "snapshot",
    publishTo: kind === "ceiling" ? "none" : kind === "nchan" ? "nchan" : "nats",
    usage: () => treeUsage(proc.pid),
    async heapUsed() {
      if (!scraped) return undefined;
      return metric(await scrape(), "quotecast_nodejs_heap_size_used_bytes");
    },
    async youngGeneration() {
      if (!scraped) return undefined;
      const text = await scrape();
      let sum = 0;
      for (const line of text.split("\n")) if (line.startsWith("quotecast_nodejs_heap_space_size_total_bytes{") && line.includes('space="new"')) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      return sum;
    },
    async ticks(overSec) {
      if (!scraped) return undefined;
      const text = await scrape();
      const count = metric(text, "quotecast_flush_duration_seconds_count");
      const bucket = `quotecast_flush_duration_seconds_bucket{le="${overSec}"}`;
      const over = text.includes(bucket) ? count - metric(text, bucket) : Number.NaN;
      return { count, sec: metric(text, "quotecast_flush_duration_seconds_sum"), over };
    },
    metricsText: scrape,
    stop: () => proc.stop(o.stopGraceMs, o.wrap !== undefined),
  };
}

async function waitReady(proc: Managed, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | null = null;
  void proc.exited.then((code) => (exited = code));
  // What the last probe saw, for the error: a server that listens but is not ready says why.
  let last = "no answer";
  while (Date.now() < deadline && exited === null) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return;
      last = `/readyz answered ${res.status} ${(await res.text()).slice(0, 200)}`;
    } catch (err) {
      last = `/readyz: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`;
    }
    await sleep(100);
  }
  await proc.stop();
  // 'exit' can come before the last of the output: wait for the pipes to close (briefly).
  await Promise.race([once(proc.child, "close"), sleep(1000)]);
  throw new Error(`${proc.name} did not become ready on port ${port} in ${timeoutMs / 1000} s (${exited === null ? last : `it exited: ${exited}`}); output:\n${proc.output()}`);
}
