import { QUOTES_EVENT_TAIL, quotesEventHead } from "./sse-frames.js";

/**
 * Builds `quotes` events into one scratch buffer, reused for every frame of every tick, from
 * bytes each quote was encoded to once. A frame costs copies into memory that stays in cache,
 * and no allocation: with a frame per connection per window (connections with distinct symbol
 * lists share nothing), a fresh Buffer per frame was most of the worker's garbage.
 *
 * The frame returned by `finish` is only valid until the next `begin`: whoever receives it must
 * be done with it (uWS copies what it writes) before another frame is built. The bytes are those
 * of `quotesEvent("quotes", id, quotes)` in sse-frames.ts, asserted in test/frame-builder.test.ts.
 */
export class FrameBuilder {
  #buf: Buffer;
  #len = 0;
  #quotes = 0;
  /**
   * One view of the scratch buffer per frame length seen, so handing out a frame allocates
   * nothing either. Bounded by the buffer's size; frame lengths cluster, so it stays small.
   */
  #views = new Map<number, Buffer>();

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Start a frame: `head` is the event's prefix for this tick, from `quotesHead`. */
  begin(head: Uint8Array): void {
    this.#len = 0;
    this.#quotes = 0;
    this.#append(head);
  }

  /** Add one quote's JSON bytes to the frame's array. */
  add(quote: Uint8Array): void {
    if (this.#quotes++ > 0) {
      this.#reserve(1);
      this.#buf[this.#len++] = COMMA;
    }
    this.#append(quote);
  }

  /** Bytes so far (without the tail `finish` adds). */
  get length(): number {
    return this.#len;
  }

  /** Quotes added since `begin`. */
  get count(): number {
    return this.#quotes;
  }

  /** Close the event; the bytes stay valid until the next `begin`. */
  finish(): Buffer {
    this.#append(TAIL);
    let view = this.#views.get(this.#len);
    if (view === undefined) this.#views.set(this.#len, (view = this.#buf.subarray(0, this.#len)));
    return view;
  }

  #append(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(bigger, 0, 0, this.#len);
    this.#buf = bigger;
    this.#views = new Map();
  }
}

/** The start of a `quotes` event carrying event id `id`, up to the array's opening bracket. */
export function quotesHead(id: string): Buffer {
  return Buffer.from(quotesEventHead("quotes", id));
}

/** The same for a `delta` event (its objects are field deltas, from SymbolHistory). */
export function deltaHead(id: string): Buffer {
  return Buffer.from(quotesEventHead("delta", id));
}

const COMMA = 0x2c;
const TAIL = Buffer.from(QUOTES_EVENT_TAIL);
/** Bytes `finish` adds. */
export const FRAME_TAIL_BYTES = TAIL.length;
