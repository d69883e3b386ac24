/**
 * When to restart a worker that died: at once the first time, then with exponential backoff
 * while deaths keep coming, so a worker that cannot start does not spin in a hot loop.
 */
export class RestartPolicy {
  readonly #exits: number[] = [];

  constructor(
    readonly windowMs = 60_000,
    readonly baseDelayMs = 100,
    readonly maxDelayMs = 30_000,
    /** More exits than this inside the window is a crash loop, reported loudly. */
    readonly loopThreshold = 5,
  ) {}

  get recentExits(): number {
    return this.#exits.length;
  }

  get crashLooping(): boolean {
    return this.#exits.length > this.loopThreshold;
  }

  /** Record an exit at `now`; returns how long to wait before restarting. */
  onExit(now: number): number {
    this.#exits.push(now);
    while (this.#exits.length > 0 && now - this.#exits[0]! > this.windowMs) this.#exits.shift();
    const n = this.#exits.length;
    if (n <= 1) return 0;
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 2));
  }
}
