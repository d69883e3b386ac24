/** A ticker symbol as the contract defines it: `AAPL`, `BRK.B`, `BTC-USD`. */
export const SYMBOL_PATTERN = /^[A-Z0-9][A-Z0-9.\-]{0,15}$/;

/** The NATS subject prefix every quote is published under. */
export const SUBJECT_PREFIX = "quotes.";

/** Wildcard that matches every quote subject (`quotes.BRK.B` included). */
export const QUOTES_WILDCARD = "quotes.>";

export function isSymbol(s: string): boolean {
  return SYMBOL_PATTERN.test(s);
}

export function subjectFor(symbol: string): string {
  return SUBJECT_PREFIX + symbol;
}
