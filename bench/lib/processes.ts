// Child processes of a bench run, and what /proc says about them.
//
// Every process the bench starts is registered here, so one cleanup() stops them all, whether
// the run ends normally, throws, or is interrupted (SIGINT/SIGTERM): a benchmark that leaves a
// server behind would skew the next run on the same 2 cores.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { descendants, sleep } from "../../scripts/lib/processes.mjs";

/** Linux reports CPU time in clock ticks; 100 on every mainstream kernel config (getconf CLK_TCK). */
const CLK_TCK = 100;
const PAGE_BYTES = 4096;

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout + stderr, last 64 KiB: shown when the process fails. */
  output(): string;
  readonly exited: Promise<number | string>;
  /**
   * SIGTERM (or, `asTerminal`, SIGINT to it and its descendants like Ctrl-C), then SIGKILL after
   * `graceMs`; the process's own children are killed too.
   */
  stop(graceMs?: number, asTerminal?: boolean): Promise<void>;
}

const live = new Set<Managed>();

export function spawnManaged(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Managed {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  return register(name, child);
}

/** Track a child started elsewhere (spawn or fork) so cleanupAll() stops it too. */
export function register(name: string, child: ChildProcess): Managed {
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  let out = "";
  const keep = (d: Buffer) => {
    out += d.toString("utf8");
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, sig) => resolve(code ?? sig ?? "?")));
  const pid = child.pid;
  const m: Managed = {
    name,
    child,
    pid,
    output: () => out,
    exited,
    async stop(graceMs = 3000, asTerminal = false) {
      if (child.exitCode !== null || child.signalCode !== null) return void live.delete(m);
      // Remember the children first: a cluster primary killed hard would orphan its workers.
      const kids = descendants(pid);
      if (asTerminal) {
        // What Ctrl-C does: SIGINT to every process of the group. clinic waits for its child
        // to end on SIGINT and then writes its report.
        for (const k of kids) killQuietly(k, "SIGINT");
        child.kill("SIGINT");
      } else child.kill("SIGTERM");
      const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), graceMs).unref());
      if ((await Promise.race([exited, timer])) === "timeout") child.kill("SIGKILL");
      await exited;
      for (const k of kids) killQuietly(k, "SIGKILL");
      live.delete(m);
    },
  };
  live.add(m);
  return m;
}

function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Stop everything still running, newest first (feed before servers before NATS). */
export async function cleanupAll(): Promise<void> {
  for (const m of [...live].reverse()) await m.stop(2000).catch(() => undefined);
}

let hooked = false;
/** SIGINT/SIGTERM stop every child and exit; a hard exit still SIGKILLs what is left. */
export function installCleanupHooks(onSignal: () => Promise<void>): void {
  if (hooked) return;
  hooked = true;
  let signalled = false;
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(130); // second Ctrl-C: do not wait for cleanup
    signalled = true;
    process.stderr.write(`\nbench: ${sig}, stopping everything it started…\n`);
    void onSignal().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("exit", () => {
    for (const m of live) {
      for (const k of descendants(m.pid)) killQuietly(k, "SIGKILL");
      killQuietly(m.pid, "SIGKILL");
    }
  });
}

interface ProcStat {
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  rssBytes: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE_BYTES };
}

// descendants() and sleep() come from the process kit shared with scripts/ and test/helpers/.
export { descendants, sleep };

/** CPU seconds and RSS of a process and all its descendants, read now. */
export function treeUsage(pid: number): { cpuSec: number; rssBytes: number } {
  let ticks = 0;
  let rss = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const st = readStat(p);
    if (st === undefined) continue;
    ticks += st.cpuTicks;
    rss += st.rssBytes;
  }
  return { cpuSec: ticks / CLK_TCK, rssBytes: rss };
}

/** The file-descriptor limit of this process (`ulimit -n`): caps how many sockets a client can open. */
export function openFileLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : 1024;
}

/** Busy and total CPU time of the whole machine (first line of /proc/stat), in ticks. */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // idle and iowait are the only fields that are not work.
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/**
 * How busy the whole machine was between two calls, 0-100 % of all cores: shows when a number
 * is capped by the shared cores rather than by the program measured.
 */
export function machineBusy(): () => number {
  const a = machineTicks();
  return () => {
    const b = machineTicks();
    return (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
  };
}
