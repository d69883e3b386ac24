/** The board's pure parts: number formatting, tick direction, symbol input. Unit-tested in Node. */

const SYMBOL = /^[A-Z0-9][A-Z0-9.\-]{0,15}$/;

/** Prices with two decimals (the contract); "–" when the quote has none. */
export function formatPrice(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(2) : "–";
}

/** `last − ref` with its sign, two decimals. */
export function formatChange(last: number | undefined, ref: number | undefined): string {
  if (last === undefined || ref === undefined) return "–";
  return signed(last - ref, 2);
}

/** `(last − ref) / ref` in percent with its sign, two decimals. */
export function formatPercent(last: number | undefined, ref: number | undefined): string {
  if (last === undefined || ref === undefined || ref === 0) return "–";
  return signed(((last - ref) / ref) * 100, 2) + "%";
}

function signed(v: number, digits: number): string {
  const text = Math.abs(v).toFixed(digits);
  // -0.001 rounds to "0.00": no sign on a change that shows as zero.
  if (Number(text) === 0) return text;
  return (v > 0 ? "+" : "-") + text;
}

/** 1 up, -1 down, 0 same (or nothing to compare with). */
export function tickDirection(previous: number | undefined, current: number | undefined): -1 | 0 | 1 {
  if (previous === undefined || current === undefined || previous === current) return 0;
  return current > previous ? 1 : -1;
}

/** The price a tick is judged by: `last`, else the mid of bid and ask. */
export function tickPrice(q: { bid?: unknown; ask?: unknown; last?: unknown }): number | undefined {
  if (isNumber(q.last)) return q.last;
  if (isNumber(q.bid) && isNumber(q.ask)) return (q.bid + q.ask) / 2;
  return undefined;
}

/**
 * The reference for change and change %: the quote's own `prevClose` when the feed sends one,
 * else the first `last` seen in this session.
 */
export function referencePrice(current: number | undefined, q: { prevClose?: unknown; last?: unknown }): number | undefined {
  if (isNumber(q.prevClose)) return q.prevClose;
  if (current !== undefined) return current;
  return isNumber(q.last) ? q.last : undefined;
}

/** Split what a user typed ("ibm, brk.b  x!") into valid symbols (upper case, unique) and rejects. */
export function parseSymbolInput(text: string): { symbols: string[]; invalid: string[] } {
  const symbols: string[] = [];
  const invalid: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    if (raw === "") continue;
    const sym = raw.toUpperCase();
    if (!SYMBOL.test(sym)) invalid.push(raw);
    else if (!symbols.includes(sym)) symbols.push(sym);
  }
  return { symbols, invalid };
}

/** The median of `values` (which it sorts); undefined when empty. */
export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid] : (values[mid - 1]! + values[mid]!) / 2;
}

function isNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}
