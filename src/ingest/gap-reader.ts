import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import { QUOTE_STREAM } from "./quote-stream.js";
import { QUOTES_WILDCARD } from "./symbol.js";

/** A message as the QUOTES stream stored it. */
export interface StoredQuote {
  readonly seq: number;
  /** The stream subject, `quotes.<SYMBOL>`. */
  readonly subject: string;
  readonly data: Uint8Array;
}

/**
 * The first message the stream holds at or after `seq`, or null when the server that answered
 * holds none (yet). Sequences the stream no longer holds (a later quote of the same symbol
 * replaced them: it keeps one per subject) are skipped, so every call moves past at least one.
 */
export type ReadFrom = (seq: number) => Promise<StoredQuote | null>;

/**
 * Read the stream one message at a time, `{"seq": N, "next_by_subj": "quotes.>"}` (nats-server 2.9).
 *
 * `direct` (the stream has `allow_direct`): `$JS.API.DIRECT.GET.QUOTES`, answered by any replica,
 * the one on the NATS node this connection is on first. It needs neither the stream's leader nor
 * JetStream's meta leader, which is the point: after a NATS node is lost those are being elected
 * for seconds, and a catch-up consumer cannot be created until they are.
 *
 * Otherwise `$JS.API.STREAM.MSG.GET.QUOTES`: answered by the stream leader only, and refused while
 * the meta group has no leader, but still one round trip instead of a consumer.
 */
export function streamReader(jsm: JetStreamManager, direct: boolean): ReadFrom {
  if (direct) return (seq) => jsm.direct.getMessage(QUOTE_STREAM, { seq, next_by_subj: QUOTES_WILDCARD });
  // nats.js types STREAM.MSG.GET without `next_by_subj`, which nats-server 2.9 takes there too.
  return (seq) => jsm.streams.getMessage(QUOTE_STREAM, { seq, next_by_subj: QUOTES_WILDCARD } as unknown as MsgRequest);
}

/** How far a gap read may go before the catch-up consumer is the better tool. */
export interface GapLimits {
  /** Sequences between the last applied and the target; a wider gap is not read this way. */
  readonly maxSequences: number;
  /** Reads in one gap read (a fast feed can move the target as fast as it is read). */
  readonly maxReads: number;
  /** Reads in flight at once, for sequences the live feed announced ahead. */
  readonly window: number;
  /** Answers "nothing there" in a row before giving up: the replica may be a few ms behind. */
  readonly misses: number;
  /** Wait after such an answer before asking again. */
  readonly missWaitMs: number;
}

/**
 * 10,000 sequences and 2,000 reads: a NATS node lost under a light or moderate feed leaves a gap
 * of tens to a few thousand sequences, most of them already replaced (one message per symbol is
 * kept), read in tens of milliseconds. Under a feed of tens of thousands of quotes a second the
 * gap outgrows it, and the consumer, which streams, reads it. A forged `Nats-Sequence` far ahead
 * costs nothing; a forged one just ahead costs the read to the stream's end and `misses` waits.
 */
export const GAP_LIMITS: GapLimits = { maxSequences: 10_000, maxReads: 2_000, window: 64, misses: 5, missWaitMs: 20 };

/** What a gap read works on; read on every step, as live messages in order move `highWater()`. */
export interface GapState {
  /** The last sequence applied: everything at or below it is reflected. */
  highWater(): number;
  /** Apply a message of the stream (always above `highWater()`). */
  apply(m: StoredQuote): void;
  /** False once the read must stop (a disconnect, a recreated stream, a stop). */
  current(): boolean;
}

/**
 * - `filled`: everything up to the target is applied;
 * - `too-large`: the gap is (or grew) beyond the limits;
 * - `short`: the stream has nothing more, short of the target, after every retry: a forged
 *   sequence, or a replica far behind;
 * - `failed`: a read failed (no replica answers direct gets, a timeout, a permission);
 * - `stopped`: `current()` turned false.
 */
export type GapOutcome = "filled" | "too-large" | "short" | "failed" | "stopped";

export interface GapResult {
  readonly outcome: GapOutcome;
  /** Reads made, answers with nothing included. */
  readonly reads: number;
  /** Messages applied. */
  readonly applied: number;
  readonly error?: Error;
}

type Answer = { readonly m: StoredQuote | null } | { readonly err: Error };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One read of a gap in the live feed: the messages the live feed skipped, read from the stream and
 * applied in stream order, from just after the last sequence applied until the highest sequence
 * announced is applied. Pure but for `read` and `wait`.
 *
 * Messages are applied strictly in order, each only once the one before it is, so `highWater()`
 * keeps meaning "everything at or below is reflected" throughout: the read for `highWater() + 1`
 * answers with the first message the stream holds from there, and every sequence it skipped was
 * replaced by a later message, which comes later. That stays true whichever replica answers,
 * however far behind: a replica holding sequence s has applied everything before s.
 *
 * Live messages that come out of order while the read runs are announced: each moves the target
 * and is asked for at once (up to `window` reads in flight), so that a feed faster than one round
 * trip per message is read at the pace it comes rather than chased one message at a time. The
 * answer for a sequence is used only when the read gets there; one that arrives first is kept.
 */
export class GapRead {
  readonly #read: ReadFrom;
  readonly #state: GapState;
  readonly #limits: GapLimits;
  readonly #wait: (ms: number) => Promise<void>;
  readonly #inFlight = new Map<number, Promise<Answer>>();
  #target = 0;
  #reads = 0;
  #applied = 0;

  constructor(read: ReadFrom, state: GapState, limits: GapLimits = GAP_LIMITS, wait: (ms: number) => Promise<void> = sleep) {
    this.#read = read;
    this.#state = state;
    this.#limits = limits;
    this.#wait = wait;
  }

  /** The highest sequence announced: the read ends once it is applied. */
  get target(): number {
    return this.#target;
  }

  /** A live message with sequence `seq` came ahead of the next one: read up to it. */
  announce(seq: number): void {
    if (seq > this.#target) this.#target = seq;
    const hw = this.#state.highWater();
    if (seq > hw + 1 && seq - hw <= this.#limits.maxSequences && this.#inFlight.size < this.#limits.window && !this.#inFlight.has(seq)) this.#ask(seq);
  }

  #ask(seq: number): Promise<Answer> | undefined {
    if (this.#reads >= this.#limits.maxReads) return undefined;
    this.#reads++;
    // Never rejects: an answer nobody waits for any more must not become an unhandled rejection.
    const answer = this.#read(seq).then(
      (m): Answer => ({ m }),
      (err: unknown): Answer => ({ err: err instanceof Error ? err : new Error(String(err)) }),
    );
    this.#inFlight.set(seq, answer);
    return answer;
  }

  #result(outcome: GapOutcome, error?: Error): GapResult {
    this.#inFlight.clear();
    return error === undefined ? { outcome, reads: this.#reads, applied: this.#applied } : { outcome, reads: this.#reads, applied: this.#applied, error };
  }

  async run(): Promise<GapResult> {
    let misses = 0;
    for (;;) {
      if (!this.#state.current()) return this.#result("stopped");
      const from = this.#state.highWater() + 1;
      if (from > this.#target) return this.#result("filled");
      if (this.#target - from >= this.#limits.maxSequences) return this.#result("too-large");
      for (const seq of this.#inFlight.keys()) if (seq < from) this.#inFlight.delete(seq);
      const pending = this.#inFlight.get(from) ?? this.#ask(from);
      if (pending === undefined) return this.#result("too-large");
      const answer = await pending;
      this.#inFlight.delete(from);
      if (!this.#state.current()) return this.#result("stopped");
      if ("err" in answer) return this.#result("failed", answer.err);
      if (answer.m === null) {
        // Nothing at or after `from` on the replica that answered: it has not applied the target
        // yet (the leader republishes a message once it is stored, a follower may apply it ms
        // later), or the target does not exist. Answers asked for at the same time are as old.
        if (++misses > this.#limits.misses) return this.#result("short");
        this.#inFlight.clear();
        await this.#wait(this.#limits.missWaitMs);
        continue;
      }
      misses = 0;
      // Applied meanwhile from the live feed, in order: nothing to do.
      if (answer.m.seq <= this.#state.highWater()) continue;
      this.#state.apply(answer.m);
      this.#applied++;
    }
  }
}
