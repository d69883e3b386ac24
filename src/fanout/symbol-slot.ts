import type { LastValue } from "../ingest/last-values.js";
import type { FrameGroup } from "./frame-group.js";
import type { SymbolHistory } from "./symbol-history.js";

/** Shared by every slot without groups; never written to (addGroup replaces it). */
const NO_GROUPS: FrameGroup[] = [];

/**
 * The fan-out's view of one subscribed symbol: when it last changed, and which groups hold it.
 * Exists while some group holds the symbol.
 */
export class SymbolSlot {
  /** The fan-out's change number of the symbol's latest change; 0 before any change was seen. */
  changeNo = 0;
  /** The tick whose start lists this slot as changed (each slot is listed once per tick). */
  listedTick = 0;
  /**
   * The groups holding it, in an array: a Set costs ~156 bytes even with one entry, an array of
   * one ~56, and most slots of unique symbols have exactly one group. A group is added once and
   * removed once; removal swaps in the last, so order does not matter here.
   */
  groups: FrameGroup[] = NO_GROUPS;
  /** Its last versions, for field deltas: kept from the first delta connection on. */
  history: SymbolHistory | null = null;

  constructor(
    readonly sym: string,
    /** Its latest value, once one was published: the feed's entry, updated in place. */
    public value: LastValue | undefined,
  ) {}

  addGroup(group: FrameGroup): void {
    // A literal of one has room for one; pushing onto an empty array would reserve 17.
    if (this.groups.length === 0) this.groups = [group];
    else this.groups.push(group);
  }

  removeGroup(group: FrameGroup): void {
    const i = this.groups.indexOf(group);
    if (i === -1) return;
    const last = this.groups.pop()!;
    if (i < this.groups.length) this.groups[i] = last;
    else if (this.groups.length === 0) this.groups = NO_GROUPS;
  }
}
