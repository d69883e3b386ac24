import type { Connection } from "./connection.js";
import type { SymbolSlot } from "./symbol-slot.js";

/**
 * Connections that subscribed to the same symbols with the same interval receive the same
 * bytes: the group builds each frame once and every in-step member gets that one buffer.
 */
export class SubscriptionGroup {
  readonly members = new Set<Connection>();
  /** Listed among the fan-out's dirty groups: a symbol of it changed since its last frame. */
  dirty = false;
  /** Every change of its symbols stamped at or before this tick went out in its shared frames. */
  sentTick: number;
  lastFlushAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly key: string,
    readonly intervalMs: number,
    /** Its symbols' slots, in the order the first subscriber gave them. */
    readonly slots: readonly SymbolSlot[],
    sentTick: number,
  ) {
    this.sentTick = sentTick;
  }

  /** Same symbols (in any order) and same interval give the same key. */
  static keyOf(symbols: readonly string[], intervalMs: number): string {
    return intervalMs + "|" + [...symbols].sort().join(",");
  }
}
