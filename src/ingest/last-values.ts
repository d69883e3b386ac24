/** The latest quote of one symbol. Mutated in place on every update. */
export interface LastValue {
  readonly sym: string;
  /** The quote's JSON exactly as published. */
  json: string;
  /** The same JSON as UTF-8, encoded once per quote: frames are assembled from these bytes. */
  bytes: Uint8Array;
  /** JetStream stream sequence of this quote: orders updates across workers and nodes. */
  streamSeq: number;
  /** The feed's publish time (ms since the epoch), for publish-to-write latency. */
  ts: number;
}

/** Default of `--max-feed-symbols`: distinct symbols a worker keeps (see docs/faults.md). */
export { DEFAULT_MAX_FEED_SYMBOLS } from "../config/serve-config.js";

/** Latest quote per symbol, and how far into the stream this worker has applied updates. */
export class LastValues {
  readonly #values = new Map<string, LastValue>();
  #highWater = 0;
  #held: number | null = null;
  /** Quotes dropped because their symbol was new and the cap was reached. */
  overCap = 0;

  /**
   * @param maxSymbols distinct symbols kept; a quote of a symbol beyond it is dropped and counted
   *   (200,000 new symbols on the feed took each worker from 64 to 221 MiB, and a respawned worker
   *   loaded them all again). Symbols already held keep updating.
   * @param onCapReached called once, on the first quote dropped for the cap (not per quote).
   */
  constructor(
    readonly maxSymbols = Number.POSITIVE_INFINITY,
    private readonly onCapReached: () => void = () => undefined,
  ) {}

  /** Highest stream sequence applied: every quote at or below it is reflected here. */
  get highWater(): number {
    return this.#highWater;
  }

  /**
   * The stream position event ids may claim: everything at or below it is reflected here.
   * Normally the high-water mark; held back while a catch-up fills a gap below it.
   */
  get position(): number {
    return this.#held ?? this.#highWater;
  }

  /** A catch-up from `seq + 1` begins: ids stay at `seq` (or lower, if already held) until it ends. */
  holdPosition(seq: number): void {
    this.#held = this.#held === null ? seq : Math.min(this.#held, seq);
  }

  /** The catch-up reached the end of the stream: no gap is left below the high-water mark. */
  releasePosition(): void {
    this.#held = null;
  }

  get size(): number {
    return this.#values.size;
  }

  get(sym: string): LastValue | undefined {
    return this.#values.get(sym);
  }

  /**
   * Record a quote. Returns the entry, or undefined when it is older than what we hold
   * (a redelivery after a consumer reset must never move a symbol back in time).
   */
  apply(sym: string, json: string, streamSeq: number, ts: number): LastValue | undefined {
    if (streamSeq > this.#highWater) this.#highWater = streamSeq;
    const cur = this.#values.get(sym);
    if (cur === undefined) {
      if (this.#values.size >= this.maxSymbols) {
        if (this.overCap++ === 0) this.onCapReached();
        return undefined;
      }
      const entry: LastValue = { sym, json, bytes: Buffer.from(json), streamSeq, ts };
      this.#values.set(sym, entry);
      return entry;
    }
    if (streamSeq <= cur.streamSeq) return undefined;
    cur.json = json;
    cur.bytes = Buffer.from(json);
    cur.streamSeq = streamSeq;
    cur.ts = ts;
    return cur;
  }

  /**
   * The stream was recreated and its sequences restarted: keep the values (still the latest
   * known) but let any message of the new stream replace them.
   */
  rebase(): void {
    for (const v of this.#values.values()) v.streamSeq = 0;
    this.#highWater = 0;
  }

  /** A stream message that held no valid quote still moves our position in the stream. */
  advanceTo(streamSeq: number): void {
    if (streamSeq > this.#highWater) this.#highWater = streamSeq;
  }
}
