import type { QuoteTick } from "./price-model.js";

/**
 * The constant head of every payload of one symbol, built once per symbol. Symbols match
 * SYMBOL_PATTERN (no quote, backslash or control character), so no escaping is needed.
 */
export function payloadPrefix(symbol: string): string {
  return '{"sym":"' + symbol + '","ts":';
}

/**
 * Integer cents as a JSON number with at most two decimals. `n / 100` is the double nearest
 * to the two-decimal value, and number-to-string picks the shortest text that reads back as
 * that double, which is exactly those digits: `18712` gives `187.12`, `18710` gives `187.1`.
 */
export function formatCents(cents: number): string {
  return "" + cents / 100;
}

/**
 * One quote as a single-line JSON object, keys in the contract's order. Concatenation rather
 * than JSON.stringify: no intermediate object per quote, and about three times as fast on Node 20.
 */
export function formatQuote(prefix: string, ts: number, q: QuoteTick): string {
  return (
    prefix +
    ts +
    ',"seq":' +
    q.seq +
    ',"bid":' +
    q.bidCents / 100 +
    ',"ask":' +
    q.askCents / 100 +
    ',"bsz":' +
    q.bsz +
    ',"asz":' +
    q.asz +
    ',"last":' +
    q.lastCents / 100 +
    ',"vol":' +
    q.vol +
    "}"
  );
}
