import type { LastValue } from "../feed/last-values.js";
import type { SubscriptionGroup } from "./subscription-group.js";

/**
 * The fan-out's view of one subscribed symbol: when it last changed, counted in flush ticks, and
 * which groups hold it. Exists while some group holds the symbol.
 */
export class SymbolSlot {
  /** The tick whose frames carry the symbol's latest change; 0 before any change was seen. */
  changedTick = 0;
  readonly groups = new Set<SubscriptionGroup>();

  constructor(
    readonly sym: string,
    /** Its latest value, once one was published: the feed's entry, updated in place. */
    public value: LastValue | undefined,
  ) {}
}
