/** Checks in a row without progress, while the consumer says it has more, before reading again. */
export const STALLED_CHECKS = 10;

/** What a catch-up should do next. */
export type CatchUpVerdict = "reading" | "done" | "read-again";

/** What a check of the catch-up's consumer and of the stream found. */
export interface CatchUpCheck {
  /** Messages the consumer still has to deliver (its `num_pending`). */
  readonly pending: number;
  /** The last stream sequence the consumer has sent (its `delivered.stream_seq`). */
  readonly delivered: number;
}

/**
 * When a catch-up read of the stream has ended. Pure: no timers, no NATS.
 *
 * A catch-up must reach the stream's last sequence as its leader reported it when the read began
 * (`leaderEnd`): everything up to it is then applied, and event ids may claim it. It must end
 * whether or not another message arrives: the old rule (end on the message whose `pending` is 0)
 * left a worker's ids frozen for 80 s after an outage, when that message never reached the
 * callback (issue 17, item 2). So the end is decided against `leaderEnd`, on every message and on
 * a periodic check of the consumer, and a consumer with nothing more to send ends the read one
 * way or the other.
 */
export class CatchUpProgress {
  #readTo: number;
  #checkedReadTo = -1;
  #stalledChecks = 0;

  /**
   * @param from the last sequence already applied below the read (0 for a first load)
   * @param leaderEnd the stream's last sequence, from its leader, before the read began
   */
  constructor(
    from: number,
    readonly leaderEnd: number,
  ) {
    this.#readTo = from;
  }

  /** Highest stream sequence this read has applied. */
  get readTo(): number {
    return this.#readTo;
  }

  /** The read has reached the stream's end as it was when the read began. */
  get complete(): boolean {
    return this.#readTo >= this.leaderEnd;
  }

  /** A message of the read was applied. */
  delivered(seq: number): void {
    if (seq > this.#readTo) this.#readTo = seq;
  }

  /**
   * A periodic check. `read-again` when the consumer has nothing more to send yet the read is
   * short of `leaderEnd`: it sent messages that never reached the callback (delivered beyond what
   * was read) or it read a stream replica behind its leader. Messages may still be on their way,
   * so that verdict needs two checks in a row without progress. A consumer that says it has more
   * but sends nothing for `STALLED_CHECKS` checks in a row is given up on too.
   */
  check(c: CatchUpCheck): CatchUpVerdict {
    if (this.complete) return "done";
    this.#stalledChecks = this.#checkedReadTo === this.#readTo ? this.#stalledChecks + 1 : 0;
    this.#checkedReadTo = this.#readTo;
    if (c.pending > 0 && c.delivered <= this.#readTo) return this.#stalledChecks >= STALLED_CHECKS ? "read-again" : "reading";
    return this.#stalledChecks >= 1 ? "read-again" : "reading";
  }
}
