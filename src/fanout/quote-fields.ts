/**
 * The top-level fields of one quote's JSON, located in its bytes: what a field delta compares.
 * Pure; the JSON was validated by the feed (one object, one line), so the scanner only finds
 * where each key and value starts and ends, it does not check the grammar again.
 */
export class QuoteFields {
  constructor(
    /** The quote's UTF-8 JSON, as the feed published it. */
    readonly bytes: Uint8Array,
    /**
     * Each field's key, decoded. Shared by every version of a symbol with the same keys in the
     * same order (see `parseQuoteFields`), so comparing two versions' shapes is one `===`.
     */
    readonly keys: readonly string[],
    /** Per field i: key text start, key text end (quotes included), value start, value end. */
    readonly spans: Uint32Array,
  ) {}

  get count(): number {
    return this.keys.length;
  }

  /** Field i's value bytes equal field j's of `other`. */
  sameValue(i: number, other: QuoteFields, j: number): boolean {
    const a = this.bytes;
    const b = other.bytes;
    let p = this.spans[4 * i + 2]!;
    const end = this.spans[4 * i + 3]!;
    let q = other.spans[4 * j + 2]!;
    if (end - p !== other.spans[4 * j + 3]! - q) return false;
    while (p < end) if (a[p++] !== b[q++]) return false;
    return true;
  }

  indexOf(key: string): number {
    return this.keys.indexOf(key);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const decoder = new TextDecoder();
let scratch = new Uint32Array(64);

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Index just past the string whose opening quote is at `i`. */
function skipString(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return -1;
}

/** Index just past the value starting at `i` (no leading space). */
function skipValue(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    while (i < b.length) {
      const d = b[i]!;
      if (d === QUOTE) {
        i = skipString(b, i);
        if (i < 0) return -1;
        continue;
      }
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  while (i < b.length) {
    const d = b[i]!;
    if (d === COMMA || d === CLOSE_BRACE || isSpace(d)) break;
    i++;
  }
  return i;
}

/**
 * Locate the top-level fields of `bytes` (one JSON object). `previous` is the last version of
 * the same symbol: when the keys are the same, its `keys` array is reused. A key named twice
 * counts once, with its last value (as JSON.parse reads it). Null when the bytes are not one
 * object (the feed's validation lets none through).
 */
export function parseQuoteFields(bytes: Uint8Array, previous: QuoteFields | null): QuoteFields | null {
  // Spans go to a scratch array reused by every parse; each version keeps an exact copy.
  let n4 = 0;
  let i = 0;
  const n = bytes.length;
  while (i < n && isSpace(bytes[i]!)) i++;
  if (bytes[i] !== OPEN_BRACE) return null;
  i++;
  for (;;) {
    while (i < n && isSpace(bytes[i]!)) i++;
    if (bytes[i] === CLOSE_BRACE) break;
    if (bytes[i] !== QUOTE) return null;
    const keyStart = i;
    i = skipString(bytes, i);
    if (i < 0) return null;
    const keyEnd = i;
    while (i < n && isSpace(bytes[i]!)) i++;
    if (bytes[i] !== COLON) return null;
    i++;
    while (i < n && isSpace(bytes[i]!)) i++;
    const valueStart = i;
    i = skipValue(bytes, i);
    if (i < 0 || i === valueStart) return null;
    if (n4 + 4 > scratch.length) {
      const bigger = new Uint32Array(scratch.length * 2);
      bigger.set(scratch);
      scratch = bigger;
    }
    scratch[n4++] = keyStart;
    scratch[n4++] = keyEnd;
    scratch[n4++] = valueStart;
    scratch[n4++] = i;
    while (i < n && isSpace(bytes[i]!)) i++;
    if (bytes[i] === COMMA) {
      i++;
      continue;
    }
    if (bytes[i] === CLOSE_BRACE) break;
    return null;
  }
  const spans = scratch.slice(0, n4);
  const count = n4 / 4;
  // The usual case: the same keys as the previous version, written the same way. Compared as
  // bytes, so no key string is made.
  if (previous !== null && previous.count === count && sameKeyTexts(bytes, spans, previous)) return new QuoteFields(bytes, previous.keys, spans);
  const fresh: string[] = [];
  for (let f = 0; f < count; f++) fresh.push(decodeKey(bytes, spans[4 * f]!, spans[4 * f + 1]!));
  const prevKeys = previous?.keys;
  if (prevKeys !== undefined && prevKeys.length === count && fresh.every((k, f) => prevKeys[f] === k)) return new QuoteFields(bytes, prevKeys, spans);
  if (new Set(fresh).size === fresh.length) return new QuoteFields(bytes, fresh, spans);
  // A key named twice: JSON.parse keeps the last value, so the fields are the last of each.
  const kept: string[] = [];
  const keptSpans: number[] = [];
  for (let f = 0; f < count; f++) {
    if (fresh.indexOf(fresh[f]!, f + 1) >= 0) continue;
    kept.push(fresh[f]!);
    keptSpans.push(spans[4 * f]!, spans[4 * f + 1]!, spans[4 * f + 2]!, spans[4 * f + 3]!);
  }
  return new QuoteFields(bytes, kept, Uint32Array.from(keptSpans));
}

/** Every key of `bytes` (located by `spans`) is written byte for byte as `previous`'s key at the same place. */
function sameKeyTexts(bytes: Uint8Array, spans: Uint32Array, previous: QuoteFields): boolean {
  const pb = previous.bytes;
  const ps = previous.spans;
  for (let f = 0; f < spans.length; f += 4) {
    let p = spans[f]!;
    const end = spans[f + 1]!;
    let q = ps[f]!;
    if (end - p !== ps[f + 1]! - q) return false;
    while (p < end) if (bytes[p++] !== pb[q++]) return false;
  }
  return true;
}

/** A key's text, quotes included, as the string it names (escapes resolved). */
function decodeKey(bytes: Uint8Array, start: number, end: number): string {
  let plain = true;
  for (let i = start + 1; i < end - 1; i++) {
    const c = bytes[i]!;
    if (c === BACKSLASH || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) {
    let s = "";
    for (let i = start + 1; i < end - 1; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  return JSON.parse(decoder.decode(bytes.subarray(start, end))) as string;
}
