import { readFileSync } from "node:fs";

/** Descriptors kept for the worker itself: NATS, logs, IPC, in-flight plain requests. */
export const FD_RESERVE = 128;

/**
 * This process's soft limit on open files, from /proc/self/limits (Linux); null elsewhere or when
 * unlimited. Node has no API for getrlimit.
 */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m || m[1] === "unlimited") return null;
  return Number(m[1]);
}

/**
 * How many SSE connections this worker may hold before it refuses more with 503. A worker that
 * runs out of file descriptors cannot accept at all, and uSockets then spins on the failing
 * accept at a full core while new clients hang without an answer (seen here at 19,978 connections
 * under `ulimit -n` 20000); refusing a little earlier keeps it answering.
 */
export function connectionBudget(limit: number | null): number {
  if (limit === null) return Number.POSITIVE_INFINITY;
  return Math.max(1, limit - FD_RESERVE);
}
