import { FrameError } from "./errors.js";
import type { Quote } from "./quote.js";

/** One element of an `event: delta`: `sym` and only the fields that changed; `null` deletes a field. */
export type Delta = { readonly sym: string } & Readonly<Record<string, unknown>>;

function parseArray(data: string, kind: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (cause) {
    throw new FrameError(`${kind} event data is not JSON`, { cause });
  }
  if (!Array.isArray(parsed)) throw new FrameError(`${kind} event data is not a JSON array`);
  return parsed;
}

/**
 * Parse the `data:` of a snapshot or quotes event into quotes. Pure. Throws FrameError when the
 * data is not a JSON array; elements that are not quotes (no string `sym`, numeric `ts` and `seq`)
 * are skipped and counted in `rejected`.
 */
export function parseQuotes(data: string): { quotes: Quote[]; rejected: number } {
  const quotes: Quote[] = [];
  let rejected = 0;
  for (const q of parseArray(data, "quotes")) {
    if (isQuote(q)) quotes.push(q);
    else rejected++;
  }
  return { quotes, rejected };
}

/** Parse the `data:` of a delta event. Pure. Elements without a string `sym` are skipped and counted. */
export function parseDeltas(data: string): { deltas: Delta[]; rejected: number } {
  const deltas: Delta[] = [];
  let rejected = 0;
  for (const d of parseArray(data, "delta")) {
    if (typeof d === "object" && d !== null && !Array.isArray(d) && typeof (d as { sym?: unknown }).sym === "string") deltas.push(d as Delta);
    else rejected++;
  }
  return { deltas, rejected };
}

/**
 * The quote after a delta: a NEW object, `Object.assign` of the delta over `base` where `null`
 * deletes the field (the contract's merge). `base` is left untouched. Undefined when the result is
 * not a quote (a delta for a symbol this connection holds no value of that lacks `ts` or `seq`).
 */
export function applyDelta(base: Quote | undefined, delta: Delta): Quote | undefined {
  const q: Record<string, unknown> = base === undefined ? {} : Object.assign({}, base);
  for (const key of Object.keys(delta)) {
    const v = delta[key];
    if (v === null) delete q[key];
    else q[key] = v;
  }
  return isQuote(q) ? q : undefined;
}

export function isQuote(v: unknown): v is Quote {
  if (typeof v !== "object" || v === null) return false;
  const q = v as Record<string, unknown>;
  return typeof q.sym === "string" && typeof q.ts === "number" && typeof q.seq === "number";
}

/** Same publish: the same `seq` and `ts`. Such a quote arriving again (a resume, a fill) is not news. */
export function sameQuote(a: Quote | undefined, b: Quote): boolean {
  return a !== undefined && a.seq === b.seq && a.ts === b.ts;
}

/** Normalise a symbol list as the server does: trimmed, upper case, duplicates and blanks dropped, order kept. */
export function normalizeSymbols(symbols: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const s of symbols) {
    const sym = s.trim().toUpperCase();
    if (sym === "" || seen.has(sym)) continue;
    seen.add(sym);
    out.push(sym);
  }
  return out;
}
