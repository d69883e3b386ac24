import { SYMBOL_PATTERN } from "../ingest/symbol.js";

const SYMBOL_PATTERN_ANY_CASE = new RegExp(SYMBOL_PATTERN.source, "i");
import { BadRequestError } from "./errors.js";

/** What a `GET /quotes` asks for, validated. */
export interface QuotesRequest {
  /** Upper-case, unique, in the order the client first named them. */
  readonly symbols: readonly string[];
  /** Least time between two quotes events on this connection. */
  readonly intervalMs: number;
  /** The id the client last saw, from `Last-Event-ID` or `lastEventId`; undefined when none. */
  readonly lastEventId: string | undefined;
  /** The `token` query parameter (for EventSource, which cannot set headers); never logged. */
  readonly queryToken: string | undefined;
  /** Bandwidth budget in kbit/s (`maxKbps=`, else the server's `--max-kbps`); 0: unlimited. */
  readonly maxKbps: number;
  /** `delta=1`: updates as `event: delta` field deltas. Default false (`delta=0` or absent). */
  readonly delta: boolean;
}

export interface QuotesRequestLimits {
  readonly maxSymbols: number;
  readonly flushMs: number;
  /** `--max-kbps`: the budget of connections that name none and the most one may name; 0: none. Default 0. */
  readonly maxKbps?: number;
}

/** Longest `interval=` we accept: beyond an hour a client wants polling, not a stream. */
export const MAX_INTERVAL_MS = 3_600_000;

const DECIMAL = /^\s*(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/**
 * Parse the query string and `Last-Event-ID` header of a subscription. Pure; throws
 * BadRequestError with a message that tells the client what to fix.
 */
export function parseQuotesRequest(query: string, lastEventIdHeader: string, limits: QuotesRequestLimits): QuotesRequest {
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    throw new BadRequestError("malformed query string");
  }
  const symbols = parseSymbols(params.getAll("symbols"), limits.maxSymbols);
  const intervalMs = parseInterval(params.get("interval"), limits.flushMs);
  const lastEventId = lastEventIdHeader || params.get("lastEventId") || undefined;
  const queryToken = params.get("token") ?? undefined;
  const maxKbps = parseMaxKbps(params.get("maxKbps"), limits.maxKbps ?? 0);
  const delta = parseDelta(params.getAll("delta"));
  return { symbols, intervalMs, lastEventId, queryToken, maxKbps, delta };
}

function parseSymbols(values: string[], maxSymbols: number): string[] {
  if (values.length === 0) throw new BadRequestError("missing symbols: use /quotes?symbols=AAPL,MSFT");
  const seen = new Set<string>();
  const bad: string[] = [];
  for (const value of values) {
    for (const raw of value.split(",")) {
      const trimmed = raw.trim();
      if (trimmed === "") continue;
      // Checked before upper-casing: Unicode case mapping turns "ß" into "SS" and "ı" into "I".
      if (!SYMBOL_PATTERN_ANY_CASE.test(trimmed)) {
        if (bad.length < 5) bad.push(raw.slice(0, 32));
        continue;
      }
      seen.add(trimmed.toUpperCase());
    }
  }
  if (bad.length > 0) {
    throw new BadRequestError(`malformed symbol ${bad.map((b) => JSON.stringify(b)).join(", ")}: a symbol is 1-16 of A-Z 0-9 . - starting with a letter or digit`);
  }
  if (seen.size === 0) throw new BadRequestError("empty symbols list: use /quotes?symbols=AAPL,MSFT");
  if (seen.size > maxSymbols) throw new BadRequestError(`too many symbols: ${seen.size} requested, at most ${maxSymbols} per connection`);
  return [...seen];
}

function parseInterval(value: string | null, flushMs: number): number {
  if (value === null || value === "") return flushMs;
  // Decimal notation only (250, 250.5, 1e3): Number() alone would also take "0x10" and "0b11".
  const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new BadRequestError(`interval must be a number of milliseconds, got ${JSON.stringify(value.slice(0, 32))}`);
  }
  if (n > MAX_INTERVAL_MS) throw new BadRequestError(`interval must be at most ${MAX_INTERVAL_MS} ms`);
  return Math.max(flushMs, Math.floor(n));
}

/**
 * `maxKbps=`: a non-negative decimal, at most the server's ceiling when it has one. `0`, like
 * leaving it out, asks for no budget of its own: the connection gets the server's.
 */
function parseMaxKbps(value: string | null, ceiling: number): number {
  if (value === null || value === "") return ceiling;
  const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new BadRequestError(`maxKbps must be a non-negative number of kilobits per second, got ${JSON.stringify(value.slice(0, 32))}`);
  }
  if (ceiling > 0 && n > ceiling) throw new BadRequestError(`maxKbps must be at most ${ceiling}, this server's --max-kbps`);
  return n === 0 ? ceiling : n;
}

/** `delta=1` or `delta=0` (the default); anything else, or both, is a client error. */
function parseDelta(values: string[]): boolean {
  if (values.length === 0) return false;
  const distinct = new Set(values);
  const value = values[0]!;
  if (distinct.size > 1 || (value !== "0" && value !== "1")) {
    throw new BadRequestError(`delta must be 0 or 1, got ${JSON.stringify([...distinct].join(",").slice(0, 32))}`);
  }
  return value === "1";
}
