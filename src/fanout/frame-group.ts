import type { Connection } from "./connection.js";
import type { SymbolSlot } from "./symbol-slot.js";

/**
 * A frame group: the connections that asked for the same symbols with the same interval (and
 * frame kind) receive the same bytes, so the group builds each frame once and every in-step
 * member gets that one buffer. (Not a "subscription": that word is the client's, `QuoteSubscription`.)
 */
export class FrameGroup {
  /**
   * An array, not a Set: iterating a Set makes an iterator per loop, and the fan-out walks every
   * group's members every tick (a frame per connection when no two share symbols). Each member
   * knows its index, so leaving is a swap with the last.
   */
  readonly members: Connection[] = [];
  /** A symbol of it changed since its last frame. */
  dirty = false;
  /** Its place in the fan-out's flush order. */
  orderIndex = -1;
  /** Every change of its symbols numbered at or below this went out in its shared frames. */
  sentMark: number;
  lastFlushAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly key: string,
    readonly intervalMs: number,
    /** Its symbols' slots, in the order its first connection gave them. */
    readonly slots: readonly SymbolSlot[],
    sentMark: number,
    /** Its frames are `event: delta` (GET /quotes?delta=1) instead of `event: quotes`. */
    readonly delta = false,
  ) {
    this.sentMark = sentMark;
  }

  add(conn: Connection): void {
    conn.memberIndex = this.members.push(conn) - 1;
  }

  delete(conn: Connection): void {
    const i = conn.memberIndex;
    if (i < 0 || this.members[i] !== conn) return;
    const last = this.members.pop()!;
    if (last !== conn) {
      this.members[i] = last;
      last.memberIndex = i;
    }
    conn.memberIndex = -1;
  }

  /** Same symbols (in any order), same interval and same frame kind give the same key. */
  static keyOf(symbols: readonly string[], intervalMs: number, delta = false): string {
    return (delta ? "d" : "") + intervalMs + "|" + [...symbols].sort().join(",");
  }
}
