import type { Connection } from "./connection.js";

/**
 * Connections that subscribed to the same symbols with the same interval receive the same
 * bytes: the group builds each frame once and every in-step member gets that one buffer.
 */
export class SubscriptionGroup {
  readonly members = new Set<Connection>();
  /** Subscribed symbols changed since the group's last frame. */
  readonly dirty = new Set<string>();
  lastFlushAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly key: string,
    readonly symbols: readonly string[],
    readonly intervalMs: number,
  ) {}

  /** Same symbols (in any order) and same interval give the same key. */
  static keyOf(symbols: readonly string[], intervalMs: number): string {
    return intervalMs + "|" + [...symbols].sort().join(",");
  }
}
