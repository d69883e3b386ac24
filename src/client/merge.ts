import { FrameError } from "./errors.js";
import type { Quote } from "./quote.js";

/**
 * Parse the `data:` of a snapshot or quotes event into quotes. Pure. Throws FrameError when the
 * data is not a JSON array; elements that are not quotes (no string `sym`, numeric `ts` and `seq`)
 * are skipped and counted in `rejected`.
 */
export function parseQuotes(data: string): { quotes: Quote[]; rejected: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (cause) {
    throw new FrameError("event data is not JSON", { cause });
  }
  if (!Array.isArray(parsed)) throw new FrameError("event data is not a JSON array of quotes");
  const quotes: Quote[] = [];
  let rejected = 0;
  for (const q of parsed as unknown[]) {
    if (isQuote(q)) quotes.push(q);
    else rejected++;
  }
  return { quotes, rejected };
}

function isQuote(v: unknown): v is Quote {
  if (typeof v !== "object" || v === null) return false;
  const q = v as Record<string, unknown>;
  return typeof q.sym === "string" && typeof q.ts === "number" && typeof q.seq === "number";
}

/**
 * Merge quotes into the live map: the latest value of each symbol replaces the previous one
 * (the server already conflated, and after a resume it sends exactly what changed). Quotes for
 * symbols not in `wanted` (a frame in flight across a symbol change) are left out. Returns the
 * quotes applied.
 */
export function mergeQuotes(map: Map<string, Quote>, quotes: readonly Quote[], wanted: ReadonlySet<string>): Quote[] {
  const applied: Quote[] = [];
  for (const q of quotes) {
    if (!wanted.has(q.sym)) continue;
    map.set(q.sym, q);
    applied.push(q);
  }
  return applied;
}

/** Keep only the symbols in `wanted`. */
export function pruneQuotes(map: Map<string, Quote>, wanted: ReadonlySet<string>): void {
  for (const sym of map.keys()) if (!wanted.has(sym)) map.delete(sym);
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
