/**
 * A connection's bandwidth budget (`maxKbps`): a token bucket in bytes. Pure: the fan-out
 * refills it with the time of its tick, so there is no timer per connection.
 *
 * The contract bounds the bytes of any 10 s. A bucket that holds `burst` bytes and fills at
 * `fill` bytes per ms lets through at most `burst + fill * T` bytes in any T ms. With a burst
 * of one second of the budget and a fill of 90% of it, a 10-s window carries at most
 * 1 s + 9 s = 10 s of budget, and any longer window less than its share.
 *
 * A chunk larger than the burst (one quote bigger than a second of budget) could never be
 * afforded: it may go when the bucket is full, leaving the bucket in debt until the fill has
 * paid it off, so the long-run rate still holds. Nothing else is sent meanwhile.
 */
export class ByteBudget {
  /** Bytes it may send now; negative while it pays off a chunk bigger than the burst. */
  tokens: number;
  readonly burst: number;
  /** Bytes per ms. */
  readonly fill: number;
  #at: number;

  constructor(
    /** Kilobits (1000 bits) per second; above 0. */
    readonly kbps: number,
    now: number,
  ) {
    const bytesPerMs = kbps / 8;
    this.burst = bytesPerMs * BURST_MS;
    this.fill = bytesPerMs * (1 - BURST_MS / WINDOW_MS);
    this.tokens = this.burst;
    this.#at = now;
  }

  /** Add what the time since the last refill earned, up to the burst. */
  refill(now: number): void {
    if (now > this.#at) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.#at) * this.fill);
      this.#at = now;
    }
  }

  /** The bucket is full: a chunk bigger than the burst may go now. */
  get full(): boolean {
    return this.tokens >= this.burst;
  }

  spend(bytes: number): void {
    this.tokens -= bytes;
  }
}

/** The window the contract averages over. */
export const WINDOW_MS = 10_000;
/** What a full bucket lets out at once. */
export const BURST_MS = 1_000;

/**
 * Bytes charged per write on top of its body: HTTP/1.1 chunked framing (the length in hex,
 * CRLF, and CRLF after the data) for any chunk under 1 MB.
 */
export const CHUNK_FRAMING_BYTES = 9;
