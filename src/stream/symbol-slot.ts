import type { LastValue } from "../feed/last-values.js";
import type { SubscriptionGroup } from "./subscription-group.js";
import type { SymbolHistory } from "./symbol-history.js";

/**
 * The fan-out's view of one subscribed symbol: when it last changed, and which groups hold it.
 * Exists while some group holds the symbol.
 */
export class SymbolSlot {
  /** The fan-out's change number of the symbol's latest change; 0 before any change was seen. */
  changeNo = 0;
  /** The tick whose start lists this slot as changed (each slot is listed once per tick). */
  listedTick = 0;
  readonly groups = new Set<SubscriptionGroup>();
  /** Its last versions, for field deltas: kept from the first delta subscriber on. */
  history: SymbolHistory | null = null;

  constructor(
    readonly sym: string,
    /** Its latest value, once one was published: the feed's entry, updated in place. */
    public value: LastValue | undefined,
  ) {}
}
