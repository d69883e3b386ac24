/** How often the feed's timer fires: small enough for even arrivals, large enough to batch. */
export const PACER_TICK_MS = 5;

export interface PacerOptions {
  /** Most quotes one tick may release, in milliseconds of schedule: bounds an event-loop stall. */
  readonly burstMs?: number;
  /** Most schedule one may owe, in milliseconds; beyond it quotes are skipped, not owed forever. */
  readonly backlogMs?: number;
  /** Total quotes of the run (from `--duration`); unlimited when absent. */
  readonly limit?: number;
}

/**
 * Decides how many quotes are due, from elapsed time alone: a timer wakes it every few ms
 * and it releases `floor(elapsed * rate)` minus what was already released. Timer jitter and
 * slow ticks therefore never accumulate into rate error, unlike one setTimeout per quote.
 * Pure: the caller passes the time in.
 */
export class Pacer {
  readonly rate: number;
  readonly limit: number;
  readonly #startMs: number;
  readonly #maxBurst: number;
  readonly #maxBacklog: number;
  #sentCount = 0;
  #skippedCount = 0;

  constructor(rate: number, startMs: number, options: PacerOptions = {}) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number, got ${rate}`);
    this.rate = rate;
    this.#startMs = startMs;
    this.limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.#maxBurst = Math.max(1, Math.ceil((rate * (options.burstMs ?? 100)) / 1000));
    this.#maxBacklog = Math.max(this.#maxBurst, Math.ceil((rate * (options.backlogMs ?? 1000)) / 1000));
  }

  /** Quotes the schedule calls for by `nowMs`, released or skipped. */
  target(nowMs: number): number {
    const elapsed = Math.max(0, nowMs - this.#startMs);
    return Math.min(this.limit, Math.floor((elapsed * this.rate) / 1000));
  }

  /** How many quotes to publish now; they count as sent. */
  due(nowMs: number): number {
    let owed = this.target(nowMs) - this.#sentCount - this.#skippedCount;
    if (owed <= 0) return 0;
    // A publisher that cannot keep up (or was suspended) must not flood NATS to catch up on
    // minutes of schedule: drop what is older than the backlog window.
    if (owed > this.#maxBacklog) {
      this.#skippedCount += owed - this.#maxBacklog;
      owed = this.#maxBacklog;
    }
    const n = Math.min(owed, this.#maxBurst);
    this.#sentCount += n;
    return n;
  }

  get sent(): number {
    return this.#sentCount;
  }

  /** Quotes the schedule called for that were dropped because the publisher fell behind. */
  get skipped(): number {
    return this.#skippedCount;
  }

  /** True once a limited run has released or skipped all its quotes. */
  get finished(): boolean {
    return this.#sentCount + this.#skippedCount >= this.limit;
  }
}
