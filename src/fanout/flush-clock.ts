/**
 * One timer per worker drives every connection's flushes. Ticks are at least `periodMs` apart
 * by the monotonic clock: Node's timers measure from a cached loop time and may fire a little
 * early, which would let two quotes events land inside one window.
 */
export class FlushClock {
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #last = Number.NEGATIVE_INFINITY;
  readonly #periodMs: number;
  readonly #onTick: (now: number) => void;

  constructor(periodMs: number, onTick: (now: number) => void) {
    this.#periodMs = periodMs;
    this.#onTick = onTick;
  }

  start(): void {
    this.#running = true;
    if (this.#timer === null) this.#schedule(this.#periodMs);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(delay: number): void {
    this.#timer = setTimeout(this.#fire, delay);
  }

  readonly #fire = (): void => {
    this.#timer = null;
    const now = performance.now();
    const early = this.#periodMs - (now - this.#last);
    if (early > 0) {
      this.#schedule(Math.ceil(early));
      return;
    }
    this.#last = now;
    try {
      this.#onTick(now);
    } finally {
      // Unless onTick stopped the clock (or stopped and restarted it, which scheduled anew).
      // The next tick is due one period after this one started, not after it ended: the time a
      // tick takes must not stretch the window (at 50 ms it cost 15% of the events).
      if (this.#timer === null && this.#running) this.#schedule(Math.max(0, Math.ceil(this.#last + this.#periodMs - performance.now())));
    }
  };
}
