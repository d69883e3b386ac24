// Process helpers shared by the scripts (start, local-cluster, fuzz, board-perf), the test helpers
// (test/helpers/) and the bench (bench/lib/): one home for child processes and readiness waits.
import { readdirSync, readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";

export { freePort, freePorts } from "./ports.mjs";

/**
 * Whether a started child (`{ proc }`) still runs.
 * @param {{ proc: import("node:child_process").ChildProcess }} entry
 */
export const alive = (entry) => entry.proc.exitCode === null && entry.proc.signalCode === null && entry.proc.pid !== undefined;

/**
 * Signal a child's whole process group (it was spawned `detached`): `serve` is a cluster primary
 * with worker processes. Falls back to the child alone when it leads no group.
 * @param {{ proc: import("node:child_process").ChildProcess }} entry
 * @param {NodeJS.Signals} signal
 */
export function signalGroup(entry, signal) {
  if (!alive(entry)) return;
  try {
    process.kill(-(/** @type {number} */ (entry.proc.pid)), signal);
  } catch {
    try {
      entry.proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Parent pid of every live process, read from /proc (Linux).
 * @returns {Map<number, number[]>} children by parent pid
 */
function childrenByParent() {
  /** @type {Map<number, number[]>} */
  const byParent = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1");
    } catch {
      continue; // the process ended while we looked
    }
    // The command name may hold spaces and parentheses: fields after its closing one are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = byParent.get(ppid);
    if (list === undefined) byParent.set(ppid, [Number(entry)]);
    else list.push(Number(entry));
  }
  return byParent;
}

/**
 * Children of `pid` (a cluster primary's workers), in pid order.
 * @param {number} pid
 * @returns {number[]}
 */
export function childPids(pid) {
  return (childrenByParent().get(pid) ?? []).sort((a, b) => a - b);
}

/**
 * Every live descendant of `pid`, found by walking parent links.
 * @param {number} pid
 * @returns {number[]}
 */
export function descendants(pid) {
  const byParent = childrenByParent();
  /** @type {number[]} */
  const out = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of byParent.get(/** @type {number} */ (queue.shift())) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Poll `pred` (sync or async; a throw counts as "not yet") every `everyMs` until it holds, or fail
 * naming `what`.
 * @param {() => boolean | Promise<boolean>} pred
 * @param {number} timeoutMs
 * @param {string} what
 * @param {number} [everyMs]
 * @returns {Promise<void>}
 */
export async function waitFor(pred, timeoutMs, what, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await pred()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:`port` within `timeoutMs`.
 * @param {number} port
 * @param {number} timeoutMs
 * @returns {Promise<boolean>}
 */
export function canConnect(port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    /** @param {boolean} ok */
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Wait until `url` answers 200 (a server's /readyz), or fail naming it.
 * @param {string} url
 * @param {number} timeoutMs
 * @returns {Promise<void>}
 */
export function waitHttpOk(url, timeoutMs) {
  return waitFor(async () => (await fetch(url)).status === 200, timeoutMs, `${url} to answer 200`, 50);
}
