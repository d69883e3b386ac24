// The machine a run happened on, recorded with every result line: numbers are never quoted
// without the hardware, date and commit that produced them.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";

export interface Machine {
  readonly date: string;
  readonly nproc: number;
  readonly cpu: string;
  readonly node: string;
  readonly kernel: string;
  readonly natsServer: string;
  /** 1-minute load average when the run started: high means something else was running. */
  readonly loadAtStart: number;
  /** The quotecast version measured: short commit, marked when src/ has uncommitted changes. */
  readonly commit: string;
}

export const SHARED_NOTE = "client, server, NATS and feed share the same 2 cores (loopback)";

export function machine(natsBinary: string): Machine {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  let nproc = availableParallelism();
  try {
    nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    /* no coreutils: availableParallelism() is the same number */
  }
  let natsServer = "unknown";
  try {
    natsServer = execFileSync(natsBinary, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    /* shown as unknown */
  }
  return {
    date: new Date().toISOString(),
    nproc,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    node: process.version,
    kernel: release(),
    natsServer,
    loadAtStart: loadavg()[0] ?? 0,
    commit: commit(),
  };
}

function commit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${head} + uncommitted src/ changes` : head;
  } catch {
    return "unknown (not a git checkout)";
  }
}
