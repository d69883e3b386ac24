import type { Logger } from "../log/logger.js";

/** Counters worth a warning when they move. Read, never reset. */
export type CounterSnapshot = Record<string, number>;

/** Warnings are summarised at most this often: a storm is one line per interval, not one per event. */
export const WARNING_INTERVAL_MS = 10_000;

/**
 * Rate-limited warnings: every interval, one line naming what increased since the last one
 * (invalid feed messages by reason, refused connections by reason, slow consumers cut off).
 * Returns a stop function.
 */
export function startWarningSummary(log: Logger, read: () => CounterSnapshot, intervalMs = WARNING_INTERVAL_MS): () => void {
  let last = { ...read() };
  const timer = setInterval(() => {
    const now = read();
    const delta = diff(last, now);
    last = { ...now };
    if (delta !== null) log.warn({ lastSeconds: intervalMs / 1000, ...delta }, "problems in the last interval");
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** What increased between two snapshots, or null when nothing did. Pure. */
export function diff(before: CounterSnapshot, after: CounterSnapshot): CounterSnapshot | null {
  const out: CounterSnapshot = {};
  let any = false;
  for (const key in after) {
    const d = after[key]! - (before[key] ?? 0);
    if (d > 0) {
      out[key] = d;
      any = true;
    }
  }
  return any ? out : null;
}
