import { SUBJECT_PREFIX, SYMBOL_PATTERN } from "./symbol.js";

/** A feed message that passed every contract rule: safe to put on an SSE `data:` line as is. */
export interface ValidQuote {
  readonly sym: string;
  /** The payload exactly as published: forwarded to clients unchanged, never re-serialized. */
  readonly json: string;
  readonly ts: number;
  readonly seq: number;
}

/** Why a feed message was dropped; also the `reason` label of the invalid-message counter. */
export type InvalidReason =
  | "oversized"
  | "bad_subject"
  | "line_break"
  | "not_json"
  | "not_object"
  | "sym_mismatch"
  | "bad_ts"
  | "bad_seq";

export const INVALID_REASONS: readonly InvalidReason[] = [
  "oversized",
  "bad_subject",
  "line_break",
  "not_json",
  "not_object",
  "sym_mismatch",
  "bad_ts",
  "bad_seq",
];

export type Validation = { ok: true; quote: ValidQuote } | { ok: false; reason: InvalidReason };

const CR = 0x0d;
const LF = 0x0a;
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Apply the contract's feed rules to one NATS message. Pure: no I/O, no logging.
 * Byte checks run before decoding so that hostile input costs as little as possible.
 *
 * A quote is first read by a byte scanner (`scanQuote`, below) that checks the whole payload
 * against JSON's grammar and picks out `sym`, `ts` and `seq` without building any object: 4–5×
 * cheaper than decoding and `JSON.parse`. It accepts only what it is sure of; anything else
 * (invalid, escaped keys, a byte-order mark, deep nesting, a number it cannot read exactly) goes
 * to `validateQuoteByParsing`, the reference, so every verdict and every reason is the reference's.
 */
export function validateQuote(subject: string, data: Uint8Array, maxBytes: number): Validation {
  const sym = envelope(subject, data, maxBytes);
  if (typeof sym !== "string") return sym;
  const quote = scanQuote(data, sym);
  return quote !== null ? { ok: true, quote } : parseQuote(data, sym);
}

/**
 * The reference: the same rules, with a UTF-8 decode and `JSON.parse` of the payload. What
 * `validateQuote` answers for every input (test/validate.test.ts checks the two agree).
 */
export function validateQuoteByParsing(subject: string, data: Uint8Array, maxBytes: number): Validation {
  const sym = envelope(subject, data, maxBytes);
  if (typeof sym !== "string") return sym;
  return parseQuote(data, sym);
}

/**
 * The rules both validators apply before the payload's JSON: its size, its subject, no raw line
 * break. The subject's symbol, or why the message is invalid.
 */
function envelope(subject: string, data: Uint8Array, maxBytes: number): string | Validation {
  if (data.length > maxBytes) return invalid("oversized");
  if (!subject.startsWith(SUBJECT_PREFIX)) return invalid("bad_subject");
  const sym = subject.slice(SUBJECT_PREFIX.length);
  if (!SYMBOL_PATTERN.test(sym)) return invalid("bad_subject");
  // A raw CR or LF would end the SSE `data:` line early and let the feed inject events.
  // JSON escapes them inside strings, so a legitimate one-line payload never has them.
  if (data.indexOf(LF) !== -1 || data.indexOf(CR) !== -1) return invalid("line_break");
  return sym;
}

function parseQuote(data: Uint8Array, sym: string): Validation {
  let json: string;
  let parsed: unknown;
  try {
    json = decoder.decode(data);
    parsed = JSON.parse(json);
  } catch {
    return invalid("not_json");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return invalid("not_object");
  const q = parsed as { sym?: unknown; ts?: unknown; seq?: unknown };
  if (q.sym !== sym) return invalid("sym_mismatch");
  if (typeof q.ts !== "number" || !Number.isFinite(q.ts)) return invalid("bad_ts");
  if (typeof q.seq !== "number" || !Number.isSafeInteger(q.seq) || q.seq < 0) return invalid("bad_seq");
  return { ok: true, quote: { sym, json: json.trim(), ts: q.ts, seq: q.seq } };
}

function invalid(reason: InvalidReason): Validation {
  return { ok: false, reason };
}

// ---- The byte scanner ----------------------------------------------------------------------
// Positions are returned, -1 meaning "not sure: ask the reference". The scanner's findings for
// the current payload are kept in these module variables (one payload at a time, synchronous),
// so that reading a quote allocates nothing but the quote.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const TAB = 0x09;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
/** Containers nested deeper than this go to the reference (which allows more). */
const MAX_DEPTH = 64;
/** `sym`, `ts` and `seq` as bytes, for comparing keys without decoding them. */
const KEY_SYM = [0x73, 0x79, 0x6d];
const KEY_TS = [0x74, 0x73];
const KEY_SEQ = [0x73, 0x65, 0x71];

/** A byte ≥ 0x80 was seen in a string: the payload must be decoded (and checked) as UTF-8. */
let nonAscii = false;
/** The last string scanned held an escape. */
let escaped = false;
/** The last number scanned: where it starts, and its value when it is a short integer (else NaN). */
let numberFrom = 0;
let numberInt = Number.NaN;

/**
 * Read a quote straight from its bytes: the payload must be one JSON object (JSON whitespace
 * around it) whose last `sym` key is a string equal to `sym` written without escapes, whose
 * last `ts` is a finite number and whose last `seq` a non-negative safe integer. Returns null
 * whenever the reference must decide, including for everything invalid.
 */
export function scanQuote(data: Uint8Array, sym: string): ValidQuote | null {
  const n = data.length;
  nonAscii = false;
  let i = skipWs(data, 0);
  const start = i;
  if (data[i] !== LBRACE) return null;
  i = skipWs(data, i + 1);
  let symOk = false;
  let ts = Number.NaN;
  let seq = Number.NaN;
  if (data[i] === RBRACE) return null;
  for (;;) {
    if (data[i] !== QUOTE) return null;
    const keyEnd = scanString(data, i);
    if (keyEnd < 0 || escaped) return null;
    const key = keyOf(data, i + 1, keyEnd - 1);
    i = skipWs(data, keyEnd);
    if (data[i] !== COLON) return null;
    i = skipWs(data, i + 1);
    const valueStart = i;
    i = skipValue(data, i, 1);
    if (i < 0) return null;
    if (key === 1) symOk = data[valueStart] === QUOTE && !escaped && sameBytes(data, valueStart + 1, i - 1, sym);
    else if (key === 2) ts = isNumberStart(data[valueStart]!) ? numberValue(data, i) : Number.NaN;
    else if (key === 3) seq = isNumberStart(data[valueStart]!) ? numberValue(data, i) : Number.NaN;
    i = skipWs(data, i);
    const c = data[i];
    if (c === RBRACE) break;
    if (c !== COMMA) return null;
    i = skipWs(data, i + 1);
  }
  const end = i + 1;
  if (skipWs(data, end) !== n) return null;
  if (!symOk || !Number.isFinite(ts) || !Number.isSafeInteger(seq) || seq < 0) return null;
  let json: string;
  if (nonAscii) {
    try {
      json = decoder.decode(data.subarray(start, end));
    } catch {
      return null;
    }
  } else {
    json = asciiText(data, start, end);
  }
  return { sym, json, ts, seq };
}

/** 1 for `sym`, 2 for `ts`, 3 for `seq`, 0 for any other key (bytes `from` to `to`, excluded). */
function keyOf(data: Uint8Array, from: number, to: number): number {
  const len = to - from;
  if (len === 3) {
    if (data[from] === KEY_SYM[0] && data[from + 1] === KEY_SYM[1] && data[from + 2] === KEY_SYM[2]) return 1;
    if (data[from] === KEY_SEQ[0] && data[from + 1] === KEY_SEQ[1] && data[from + 2] === KEY_SEQ[2]) return 3;
  } else if (len === 2 && data[from] === KEY_TS[0] && data[from + 1] === KEY_TS[1]) {
    return 2;
  }
  return 0;
}

/** The bytes `from` to `to` (excluded) are the ASCII string `s` (a symbol: ASCII by its pattern). */
function sameBytes(data: Uint8Array, from: number, to: number, s: string): boolean {
  if (to - from !== s.length) return false;
  for (let k = 0; k < s.length; k++) if (data[from + k] !== s.charCodeAt(k)) return false;
  return true;
}

function isNumberStart(c: number): boolean {
  return c === MINUS || (c >= ZERO && c <= NINE);
}

function skipWs(data: Uint8Array, i: number): number {
  for (;;) {
    const c = data[i];
    if (c !== SPACE && c !== TAB && c !== LF && c !== CR) return i;
    i++;
  }
}

/** The end of the JSON value at `i`, or -1. Sets `escaped` for a string, `numberFrom` and `numberInt` for a number. */
function skipValue(data: Uint8Array, i: number, depth: number): number {
  const c = data[i];
  if (c === QUOTE) return scanString(data, i);
  if (c === undefined) return -1;
  if (isNumberStart(c)) return scanNumber(data, i);
  if (c === LBRACE) {
    if (depth >= MAX_DEPTH) return -1;
    i = skipWs(data, i + 1);
    if (data[i] === RBRACE) return i + 1;
    for (;;) {
      if (data[i] !== QUOTE) return -1;
      i = scanString(data, i);
      if (i < 0) return -1;
      i = skipWs(data, i);
      if (data[i] !== COLON) return -1;
      i = skipValue(data, skipWs(data, i + 1), depth + 1);
      if (i < 0) return -1;
      i = skipWs(data, i);
      if (data[i] === RBRACE) return i + 1;
      if (data[i] !== COMMA) return -1;
      i = skipWs(data, i + 1);
    }
  }
  if (c === LBRACKET) {
    if (depth >= MAX_DEPTH) return -1;
    i = skipWs(data, i + 1);
    if (data[i] === RBRACKET) return i + 1;
    for (;;) {
      i = skipValue(data, i, depth + 1);
      if (i < 0) return -1;
      i = skipWs(data, i);
      if (data[i] === RBRACKET) return i + 1;
      if (data[i] !== COMMA) return -1;
      i = skipWs(data, i + 1);
    }
  }
  if (c === 0x74) return literal(data, i, 0x72, 0x75, 0x65, -1); // true
  if (c === 0x6e) return literal(data, i, 0x75, 0x6c, 0x6c, -1); // null
  if (c === 0x66) return literal(data, i, 0x61, 0x6c, 0x73, 0x65); // false
  return -1;
}

function literal(data: Uint8Array, i: number, a: number, b: number, c: number, d: number): number {
  if (data[i + 1] !== a || data[i + 2] !== b || data[i + 3] !== c) return -1;
  if (d < 0) return i + 4;
  return data[i + 4] === d ? i + 5 : -1;
}

/** A JSON string starting at `i` (its opening quote): the index after its closing quote, or -1. */
function scanString(data: Uint8Array, i: number): number {
  escaped = false;
  const n = data.length;
  for (let j = i + 1; j < n; ) {
    const c = data[j]!;
    if (c === QUOTE) return j + 1;
    if (c === BACKSLASH) {
      escaped = true;
      const e = data[j + 1];
      if (e === 0x75) {
        // \uXXXX
        for (let k = j + 2; k < j + 6; k++) if (!isHex(data[k])) return -1;
        j += 6;
      } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        j += 2;
      } else {
        return -1;
      }
      continue;
    }
    if (c < SPACE) return -1;
    if (c >= 0x80) nonAscii = true;
    j++;
  }
  return -1;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46));
}

/**
 * A JSON number at `i`: the index after it, or -1. `numberInt` is its value when it is an integer
 * of at most 15 digits (exact in a double), else NaN: `numberValue` then reads its text.
 */
function scanNumber(data: Uint8Array, i: number): number {
  const from = i;
  const neg = data[i] === MINUS;
  if (neg) i++;
  let c = data[i];
  let v = 0;
  let digits = 0;
  if (c === ZERO) {
    i++;
    digits = 1;
  } else if (c !== undefined && c > ZERO && c <= NINE) {
    while (c !== undefined && c >= ZERO && c <= NINE) {
      v = v * 10 + (c - ZERO);
      digits++;
      c = data[++i];
    }
  } else {
    return -1;
  }
  let simple = digits <= 15;
  if (data[i] === DOT) {
    simple = false;
    if (!isDigit(data[++i])) return -1;
    while (isDigit(data[i])) i++;
  }
  c = data[i];
  if (c === LOWER_E || c === UPPER_E) {
    simple = false;
    c = data[++i];
    if (c === PLUS || c === MINUS) i++;
    if (!isDigit(data[i])) return -1;
    while (isDigit(data[i])) i++;
  }
  numberFrom = from;
  numberInt = simple ? (neg ? -v : v) : Number.NaN;
  return i;
}

/**
 * The value of the number just scanned, which ends at `to`: by `Number` from its text unless it
 * is a short integer; for JSON's number grammar `Number` reads what `JSON.parse` reads.
 */
function numberValue(data: Uint8Array, to: number): number {
  return Number.isNaN(numberInt) ? Number(asciiText(data, numberFrom, to)) : numberInt;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

/** Bytes known to be ASCII, as a string. */
function asciiText(data: Uint8Array, from: number, to: number): string {
  // nats.js hands a Buffer (a view of what it read): its latin1 slice makes no view of its own.
  return Buffer.isBuffer(data) ? data.toString("latin1", from, to) : decoder.decode(data.subarray(from, to));
}
