import { encodeDelta, encodeReplacement } from "./delta-encoding.js";
import { parseQuoteFields, type QuoteFields } from "./quote-fields.js";

/** Versions of a symbol kept for deltas: bases older than these get a replacement object. */
export const HISTORY_VERSIONS = 16;

/**
 * The last few versions of one symbol that were sent (in a frame or a snapshot), by the
 * fan-out's change number at which each became the latest, for field deltas. What a connection
 * holds of a symbol is the version current at its `sentMark` (see `Fanout`), and that version
 * was sent to it, so the delta it needs is "from the newest sent version numbered at or below
 * m to the latest". Versions superseded before anyone was sent them are never a base and are
 * not kept: a symbol that changes 100 times a window costs one version per window, not 100.
 * Kept only for symbols some delta connection holds.
 *
 * Each delta is encoded once and kept (the last two asked for): every group and connection
 * whose base is the same version shares the bytes, so a tick encodes about one delta per
 * changed symbol however many connections receive it.
 */
export class SymbolHistory {
  /** Change numbers of the versions, oldest first, in a ring of HISTORY_VERSIONS. */
  readonly #changeNos = new Float64Array(HISTORY_VERSIONS);
  readonly #fields: (QuoteFields | null)[] = new Array<QuoteFields | null>(HISTORY_VERSIONS).fill(null);
  readonly #bytes: (Uint8Array | null)[] = new Array<Uint8Array | null>(HISTORY_VERSIONS).fill(null);
  /** Index of the oldest version kept, and how many are kept. */
  #first = 0;
  #count = 0;
  /** Every key any version seen here had: a replacement object nulls those the latest lacks. */
  readonly everKeys = new Set<string>();
  #lastKeys: readonly string[] | null = null;
  // Two encoded deltas, by (base change number or -1 for a replacement, latest change number).
  #fromA = -2;
  #toA = -2;
  #bytesA: Buffer | null = null;
  #fromB = -2;
  #toB = -2;
  #bytesB: Buffer | null = null;
  /**
   * Set by `deltaAfter`: the change number of the first version sent after the base it used
   * (+Infinity for a replacement object, which suits any base). A connection whose `sentMark`
   * is below it holds the same base, and may share the delta.
   */
  nextChange = Number.POSITIVE_INFINITY;
  /**
   * The last answer of `deltaAfter` holds for every `after` in [#memoLow, #memoHigh) while the
   * latest version is still #memoTo: groups in step ask for the same base again and again.
   */
  #memoLow = 0;
  #memoHigh = -1;
  #memoTo = -1;
  #memoBytes: Buffer | null = null;
  #memoNext = Number.POSITIVE_INFINITY;

  /**
   * The symbol's latest version (its JSON bytes, the latest since change number `changeNo`) is
   * being sent: keep it, unless it is kept already. Once per symbol per frame built.
   */
  sent(bytes: Uint8Array, changeNo: number): void {
    if (this.#count > 0 && this.#changeNos[(this.#first + this.#count - 1) % HISTORY_VERSIONS] === changeNo) return;
    const latest = this.#count === 0 ? null : this.#fields[(this.#first + this.#count - 1) % HISTORY_VERSIONS]!;
    const fields = parseQuoteFields(bytes, latest);
    if (fields !== null && fields.keys !== this.#lastKeys) {
      for (const k of fields.keys) this.everKeys.add(k);
      this.#lastKeys = fields.keys;
    }
    let at: number;
    if (this.#count < HISTORY_VERSIONS) at = (this.#first + this.#count++) % HISTORY_VERSIONS;
    else {
      at = this.#first;
      this.#first = (this.#first + 1) % HISTORY_VERSIONS;
    }
    this.#changeNos[at] = changeNo;
    this.#fields[at] = fields;
    this.#bytes[at] = bytes;
  }

  /**
   * The delta object for a client that holds the version current at change number `after` (it
   * has seen every change numbered at or below it), towards the latest version, which `sent`
   * was just told of. Sets `nextChange`. Call only when the latest version is numbered above
   * `after`.
   */
  deltaAfter(after: number): Buffer {
    const last = (this.#first + this.#count - 1) % HISTORY_VERSIONS;
    const toNo = this.#changeNos[last]!;
    if (toNo === this.#memoTo && after >= this.#memoLow && after < this.#memoHigh) {
      this.nextChange = this.#memoNext;
      return this.#memoBytes!;
    }
    const cur = this.#fields[last]!;
    // The newest version numbered at or below `after` is the base, if it is still kept.
    let base = -1;
    for (let k = this.#count - 2; k >= 0; k--) {
      const at = (this.#first + k) % HISTORY_VERSIONS;
      if (this.#changeNos[at]! <= after) {
        base = at;
        break;
      }
    }
    const baseFields = base < 0 ? null : this.#fields[base]!;
    const fromNo = base < 0 || cur === null || baseFields === null ? -1 : this.#changeNos[base]!;
    this.nextChange = fromNo < 0 ? Number.POSITIVE_INFINITY : this.#changeNos[(base + 1) % HISTORY_VERSIONS]!;
    // The same base serves every `after` from it up to the next kept version (a replacement:
    // every `after` below the oldest kept version).
    this.#memoTo = toNo;
    this.#memoNext = this.nextChange;
    this.#memoLow = fromNo < 0 ? Number.NEGATIVE_INFINITY : fromNo;
    this.#memoHigh = fromNo < 0 ? (base < 0 ? this.#changeNos[this.#first]! : Number.NEGATIVE_INFINITY) : this.nextChange;
    if (this.#fromA === fromNo && this.#toA === toNo) return (this.#memoBytes = this.#bytesA!);
    if (this.#fromB === fromNo && this.#toB === toNo) return (this.#memoBytes = this.#bytesB!);
    // A quote the scanner could not read (the feed's validation lets none through) goes as published.
    const bytes = cur === null ? Buffer.from(this.#bytes[last]!) : fromNo < 0 ? encodeReplacement(cur, this.everKeys) : encodeDelta(baseFields!, cur);
    // The older of the two makes room.
    this.#fromB = this.#fromA;
    this.#toB = this.#toA;
    this.#bytesB = this.#bytesA;
    this.#fromA = fromNo;
    this.#toA = toNo;
    this.#bytesA = bytes;
    this.#memoBytes = bytes;
    return bytes;
  }
}
