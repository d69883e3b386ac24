// The runner's side of the load generator: forks client processes (at least two, one per
// 3,000 connections, each under `ulimit -n`), hands each its share of the subscriptions, and sums
// what they measure. Also drives the publisher process. Every process is registered with
// processes.ts, so an interrupted run leaves nothing behind.

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LatencyHistogram } from "../loadgen/histogram.js";
import type { ClientCommand, ClientReply, ClientTotals, PublisherReply } from "../loadgen/protocol.js";
import { register } from "./processes.js";

const CLIENT = fileURLToPath(new URL("../loadgen/client-process.js", import.meta.url));
const PUBLISHER = fileURLToPath(new URL("../loadgen/publisher.js", import.meta.url));
export const PER_PROCESS = 3000;
/** Source addresses 127.0.0.1..N: about 28k ephemeral ports each towards one server port. */
export const SOURCE_ADDRESSES = 4;

/** Ask a child one thing and wait for its answer (children answer in order). */
function ask<R>(child: ChildProcess, msg: unknown, timeoutMs: number): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${(msg as { cmd: string }).cmd}: no answer from pid ${child.pid} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMsg = (r: { cmd: string; message?: string }) => {
      // The publisher's unasked reports are no answer.
      if (r.cmd === "sent") return;
      cleanup();
      if (r.cmd === "error") reject(new Error(r.message));
      else resolve(r as R);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`pid ${child.pid} exited (${code}) before answering ${(msg as { cmd: string }).cmd}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMsg);
      child.off("exit", onExit);
    };
    child.on("message", onMsg);
    child.once("exit", onExit);
    child.send(msg as object);
  });
}

export interface LoadTotals extends ClientTotals {
  open: number;
  cpuSec: number;
  latency: LatencyHistogram;
  /** Visibility lag: for each published seq and each subscriber, until it held that seq or a newer one. */
  visibility: LatencyHistogram;
}

export class LoadGenerator {
  readonly children: ChildProcess[] = [];

  private constructor() {}

  static async start(port: number, paths: string[], o: { slowShare: number; openOn: "snapshot" | "headers"; openTimeoutMs?: number; universe: number; headers?: string; acceptGzip?: boolean }): Promise<LoadGenerator> {
    const lg = new LoadGenerator();
    // At least two: one process parsing every quote of 3,000 connections saturates its core
    // (seen at 72% of a core with the ceiling at 3,000), and the client must not be the limit.
    const n = Math.min(paths.length, Math.max(2, Math.ceil(paths.length / PER_PROCESS)));
    const per = Math.ceil(paths.length / n);
    await Promise.all(
      Array.from({ length: n }, async (_, k) => {
        const child = fork(CLIENT, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: ["--max-old-space-size=1024"] });
        register(`loadgen-${k}`, child);
        lg.children.push(child);
        const init: ClientCommand = {
          cmd: "init",
          port,
          paths: paths.slice(k * per, (k + 1) * per),
          firstIndex: k * per,
          sourceAddresses: SOURCE_ADDRESSES,
          slowShare: o.slowShare,
          openOn: o.openOn,
          openTimeoutMs: o.openTimeoutMs ?? 20_000,
          ...(o.acceptGzip === true ? { acceptGzip: true } : {}),
          universe: o.universe,
          ...(o.headers ? { headers: o.headers } : {}),
        };
        await ask(child, init, 10_000);
      }),
    );
    return lg;
  }

  private all<R extends ClientReply>(msg: ClientCommand, timeoutMs = 120_000): Promise<R[]> {
    return Promise.all(this.children.map((c) => ask<R>(c, msg, timeoutMs)));
  }

  /** Open every connection (`concurrency` in flight per process); `storm` drops them all first. */
  async open(concurrency: number, storm = false): Promise<{ opened: number; failed: number; firstError?: string; seconds: number }> {
    const t0 = performance.now();
    const rs = await this.all<Extract<ClientReply, { cmd: "opened" }>>({ cmd: storm ? "storm" : "open", concurrency });
    return {
      opened: rs.reduce((a, r) => a + r.opened, 0),
      failed: rs.reduce((a, r) => a + r.failed, 0),
      firstError: rs.find((r) => r.firstError)?.firstError,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  private async collect(cmd: "mark" | "totals"): Promise<LoadTotals> {
    const rs = await this.all<Extract<ClientReply, { cmd: "totals" }>>({ cmd });
    const latency = new LatencyHistogram();
    const visibility = new LatencyHistogram();
    const t: LoadTotals = { events: 0, quotes: 0, bytes: 0, plainBytes: 0, snapshots: 0, heartbeats: 0, dropped: 0, delivered: 0, open: 0, cpuSec: 0, latency, visibility };
    for (const r of rs) {
      t.plainBytes! += r.totals.plainBytes ?? 0;
      for (const k of ["events", "quotes", "bytes", "snapshots", "heartbeats", "dropped", "delivered"] as const) t[k] += r.totals[k];
      t.open += r.open;
      t.cpuSec += r.cpuSec;
      latency.add(r.hist);
      visibility.add(r.visibility);
    }
    return t;
  }

  /** Start of a measurement window: latencies restart; the totals returned are the base. */
  mark(): Promise<LoadTotals> {
    return this.collect("mark");
  }

  totals(): Promise<LoadTotals> {
    return this.collect("totals");
  }

  /** The publisher's send times, passed on to every client process (no answer awaited). */
  pubTimes(log: number[]): void {
    const msg: ClientCommand = { cmd: "pubtimes", log };
    for (const c of this.children) if (c.connected) c.send(msg);
  }

  async churn(sharePerSecond: number): Promise<void> {
    await this.all({ cmd: "churn", sharePerSecond });
  }

  async stopChurn(): Promise<{ reopened: number; failed: number }> {
    const rs = await this.all<Extract<ClientReply, { cmd: "churned" }>>({ cmd: "stop-churn" });
    return { reopened: rs.reduce((a, r) => a + r.reopened, 0), failed: rs.reduce((a, r) => a + r.failed, 0) };
  }

  async verify(): Promise<void> {
    await this.all({ cmd: "verify" });
  }

  async check(finals: Record<string, number>): Promise<{ current: number; closed: number; total: number; firstMiss?: string }> {
    const rs = await this.all<Extract<ClientReply, { cmd: "checked" }>>({ cmd: "check", finals });
    return {
      current: rs.reduce((a, r) => a + r.current, 0),
      closed: rs.reduce((a, r) => a + r.closed, 0),
      total: rs.reduce((a, r) => a + r.total, 0),
      firstMiss: rs.find((r) => r.firstMiss)?.firstMiss,
    };
  }

  async close(): Promise<void> {
    await this.all({ cmd: "close" }, 10_000).catch(() => undefined);
    for (const c of this.children) c.kill("SIGKILL");
  }
}

export class Publisher {
  private constructor(readonly child: ChildProcess) {}

  /** @param onSent receives the publisher's send-time reports (see ClientCommand "pubtimes"). */
  static async start(to: "nats" | "nchan", url: string, rate: number, universe: number, mix: string, onSent: (log: number[]) => void): Promise<Publisher> {
    const child = fork(PUBLISHER, ["--to", to, to === "nats" ? "--nats" : "--nchan", url, "--rate", String(rate), "--universe", String(universe), "--mix", mix], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    register("publisher", child);
    child.on("message", (r: PublisherReply) => {
      if (r.cmd === "sent") onSent(r.log);
    });
    await ask<PublisherReply>(child, { cmd: "noop" }, 15_000).catch(async (err: unknown) => {
      child.kill("SIGKILL");
      throw err;
    });
    return new Publisher(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Stop publishing; what was published and each symbol's final seq. */
  async stop(): Promise<Extract<PublisherReply, { cmd: "stopped" }>> {
    // Killed either way: one that could not drain its backlog in time is not asked again.
    try {
      return await ask<Extract<PublisherReply, { cmd: "stopped" }>>(this.child, { cmd: "stop" }, 30_000);
    } finally {
      this.child.kill("SIGKILL");
    }
  }
}
