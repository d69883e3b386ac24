/**
 * Symbol subscriptions (symbols × connections) one worker holds, against its budget
 * (`--max-worker-subscriptions`). A subscription to a symbol no other connection holds costs the
 * fan-out a slot and its bookkeeping (about 190 bytes of heap with the request's strings, measured
 * by bench/memory.ts), so the budget bounds the worst case: all unique symbols. Shared symbols
 * cost less, and are counted the same, which keeps the rule one a client can predict. Pure.
 */
export class SubscriptionBudget {
  #held = 0;

  constructor(readonly limit: number) {}

  get held(): number {
    return this.#held;
  }

  /** Take `n` if they fit; false (and nothing taken) when they would pass the budget. */
  take(n: number): boolean {
    if (this.#held + n > this.limit) return false;
    this.#held += n;
    return true;
  }

  release(n: number): void {
    this.#held = Math.max(0, this.#held - n);
  }
}
