import type { Logger } from "../log/logger.js";
import { GapRead, GAP_LIMITS, type GapResult, type ReadFrom, type StoredQuote } from "./gap-reader.js";

/** After a gap read that could not finish, the next waits this long (the catch-up consumer reads it). */
const PAUSE_AFTER_GIVING_UP_MS = 1_000;

/** At most one line a period about gap reads that worked (a lossy feed could have many a second). */
const LOG_EVERY_MS = 5_000;

/** What the ingest lends the gap reads. */
export interface LiveGapsHost {
  /** The last sequence applied: everything at or below it is reflected. */
  highWater(): number;
  /** Apply a message of the stream, as a live one is. */
  apply(m: StoredQuote): void;
  /** The first load is done (before it, a gap is the load's to read). */
  loaded(): boolean;
  /** A gap this could not read: have a catch-up consumer read it. */
  fallBack(): void;
}

/**
 * The ingest's gaps in the live feed: one gap read at a time (src/ingest/gap-reader.ts), fed with the
 * out-of-order live sequences that announce it, and what happens when one cannot finish.
 *
 * Reads happen only with a reader given by `use()`, which the ingest calls once a catch-up has
 * checked, on this connection, that the stream is the one its sequences belong to (its epoch), and
 * takes back with `drop()` on a disconnect or a recreated stream: sequences of a stream recreated
 * meanwhile must not be read as ours.
 */
export class LiveGaps {
  readonly #host: LiveGapsHost;
  readonly #log: Logger;
  #reader: ReadFrom | null = null;
  /** The highest sequence a live message announced ahead of the next one, for the next gap read. */
  #target = 0;
  /** The gap read under way, if any. */
  #gap: GapRead | null = null;
  #pausedUntil = 0;
  #unlogged = 0;
  #loggedAt = Number.NEGATIVE_INFINITY;
  /** Gaps read from the stream (without a catch-up consumer). */
  read = 0;

  constructor(host: LiveGapsHost, log: Logger) {
    this.#host = host;
    this.#log = log;
  }

  /** Read gaps with `reader` from now on (unless a reader is already in use), starting with any pending. */
  use(reader: ReadFrom): void {
    if (this.#reader === null) this.#reader = reader;
    this.#start();
  }

  /** No more reads until `use()`; a read under way stops. `forget` also drops the target (new sequences). */
  drop(forget = false): void {
    this.#reader = null;
    if (forget) this.#target = 0;
  }

  /**
   * A live message with sequence `seq` came ahead of the next one: read the gap up to it. False
   * when it cannot be read this way (no reader yet, the first load not done, a gap too wide, or
   * a read that just gave up); the caller then asks for a catch-up consumer.
   */
  readTo(seq: number): boolean {
    if (seq - this.#host.highWater() > GAP_LIMITS.maxSequences) return false;
    if (seq > this.#target) this.#target = seq;
    // A read whose reader was dropped is about to stop; the next one starts from #target.
    if (this.#gap === null || this.#reader === null) return this.#start();
    this.#gap.announce(seq);
    return true;
  }

  #start(): boolean {
    const reader = this.#reader;
    if (reader === null || !this.#host.loaded() || performance.now() < this.#pausedUntil) return false;
    if (this.#gap !== null || this.#target <= this.#host.highWater()) return true;
    const gap = new GapRead(reader, {
      highWater: () => this.#host.highWater(),
      apply: (m) => this.#host.apply(m),
      current: () => this.#reader === reader,
    });
    gap.announce(this.#target);
    this.#gap = gap;
    void this.#run(gap);
    return true;
  }

  async #run(gap: GapRead): Promise<void> {
    const from = this.#host.highWater() + 1;
    const started = performance.now();
    let result: GapResult;
    try {
      result = await gap.run();
    } finally {
      this.#gap = null;
    }
    // Stopped by a dropped reader: a newer one (if any) goes on from here.
    if (result.outcome === "stopped") {
      this.#start();
      return;
    }
    const fields = { from, to: this.#host.highWater(), target: gap.target, reads: result.reads, applied: result.applied, ms: Math.round(performance.now() - started) };
    if (result.outcome === "filled") {
      this.read++;
      this.#note("info", fields, "read a gap in the live feed from the stream; taking the live feed again");
      return;
    }
    // The catch-up consumer reads any gap, and checks the stream's end with its leader.
    this.#target = 0;
    this.#pausedUntil = performance.now() + PAUSE_AFTER_GIVING_UP_MS;
    this.#note("warn", { ...fields, outcome: result.outcome, err: result.error?.message }, "could not read a gap in the live feed from the stream; reading it with a catch-up consumer");
    this.#host.fallBack();
  }

  #note(level: "info" | "warn", fields: Record<string, unknown>, msg: string): void {
    this.#unlogged++;
    const now = performance.now();
    if (level === "info" && now - this.#loggedAt < LOG_EVERY_MS) return;
    this.#log[level]({ ...fields, gapReadsSinceLastLine: this.#unlogged }, msg);
    this.#unlogged = 0;
    this.#loggedAt = now;
  }
}
