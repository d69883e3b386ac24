import type { QuoteFields } from "./quote-fields.js";

/**
 * The objects of `event: delta` (GET /quotes?delta=1). Pure, asserted byte for byte in
 * test/delta-encoding.test.ts. A client merges each object into the symbol's last object with
 * `Object.assign`, deleting the keys whose value is `null`.
 *
 * Values are compared as the feed wrote them (their JSON text): two texts of one number
 * (`1.0`, `1`) count as a change, which costs bytes but never correctness.
 */

/**
 * The delta from `base` (what the client holds) to `cur`: `sym` first, then every field of
 * `cur` whose value text differs from `base`'s or that `base` lacks, then `null` for every key
 * of `base` that `cur` lacks.
 */
export function encodeDelta(base: QuoteFields, cur: QuoteFields): Buffer {
  const out = begin();
  const symAt = cur.indexOf("sym");
  if (symAt >= 0) field(out, cur, symAt);
  const sameShape = base.keys === cur.keys;
  for (let i = 0; i < cur.count; i++) {
    if (i === symAt) continue;
    const j = sameShape ? i : base.indexOf(cur.keys[i]!);
    if (j >= 0 && cur.sameValue(i, base, j)) continue;
    field(out, cur, i);
  }
  if (!sameShape) {
    for (let j = 0; j < base.count; j++) {
      const key = base.keys[j]!;
      if (cur.indexOf(key) < 0) nullField(out, base, j);
    }
  }
  return end(out);
}

/**
 * `cur` as a delta valid whatever the client holds of the symbol: every field, and `null` for
 * every key in `everKeys` (each key any version of the symbol had) that `cur` lacks. Sent when
 * what the client holds is no longer known. (A full object alone is not enough: a field the
 * client holds and `cur` lacks would survive the merge.)
 */
export function encodeReplacement(cur: QuoteFields, everKeys: ReadonlySet<string>): Buffer {
  const out = begin();
  for (let i = 0; i < cur.count; i++) field(out, cur, i);
  // everKeys holds cur's keys too: any more are keys cur lacks.
  if (everKeys.size > cur.count) {
    for (const key of everKeys) if (cur.indexOf(key) < 0) text(out, JSON.stringify(key) + ":null");
  }
  return end(out);
}

/** Scratch for one object at a time: the result is copied out at its exact length. */
interface Out {
  buf: Buffer;
  len: number;
  fields: number;
}
const scratch: Out = { buf: Buffer.allocUnsafeSlow(4096), len: 0, fields: 0 };

function begin(): Out {
  scratch.len = 0;
  scratch.fields = 0;
  put(scratch, OPEN, 0, 1);
  return scratch;
}

function end(out: Out): Buffer {
  put(out, CLOSE, 0, 1);
  return Buffer.from(out.buf.subarray(0, out.len));
}

function separate(out: Out): void {
  if (out.fields++ > 0) put(out, COMMA, 0, 1);
}

/** Field i of `q` as it was written: key text, colon, value text. */
function field(out: Out, q: QuoteFields, i: number): void {
  separate(out);
  const s = q.spans;
  put(out, q.bytes, s[4 * i]!, s[4 * i + 1]!);
  put(out, COLON, 0, 1);
  put(out, q.bytes, s[4 * i + 2]!, s[4 * i + 3]!);
}

/** Field j of `q`'s key, as written, with the value null. */
function nullField(out: Out, q: QuoteFields, j: number): void {
  separate(out);
  put(out, q.bytes, q.spans[4 * j]!, q.spans[4 * j + 1]!);
  put(out, NULL_VALUE, 0, NULL_VALUE.length);
}

function text(out: Out, s: string): void {
  separate(out);
  const b = Buffer.from(s);
  put(out, b, 0, b.length);
}

function put(out: Out, src: Uint8Array, from: number, to: number): void {
  const n = to - from;
  if (out.len + n > out.buf.length) {
    const bigger = Buffer.allocUnsafeSlow(Math.max(out.buf.length * 2, out.len + n));
    out.buf.copy(bigger, 0, 0, out.len);
    out.buf = bigger;
  }
  // Byte by byte: values and keys are short, and a subarray per copy was most of the garbage.
  const buf = out.buf;
  let at = out.len;
  for (let i = from; i < to; i++) buf[at++] = src[i]!;
  out.len = at;
}

const OPEN = Buffer.from("{");
const CLOSE = Buffer.from("}");
const COMMA = Buffer.from(",");
const COLON = Buffer.from(":");
const NULL_VALUE = Buffer.from(":null");
