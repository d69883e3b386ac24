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
 */
export function validateQuote(subject: string, data: Uint8Array, maxBytes: number): Validation {
  if (data.length > maxBytes) return invalid("oversized");
  if (!subject.startsWith(SUBJECT_PREFIX)) return invalid("bad_subject");
  const sym = subject.slice(SUBJECT_PREFIX.length);
  if (!SYMBOL_PATTERN.test(sym)) return invalid("bad_subject");
  // A raw CR or LF would end the SSE `data:` line early and let the feed inject events.
  // JSON escapes them inside strings, so a legitimate one-line payload never has them.
  if (data.indexOf(LF) !== -1 || data.indexOf(CR) !== -1) return invalid("line_break");

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
