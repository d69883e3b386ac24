/**
 * The `symbols` claim of a token: what its holder may subscribe to. Each entry is an exact
 * symbol (`AAPL`), a prefix ending in `*` (`BRK.*`, `BTC-*`), or `*` alone for everything.
 * Pure; matching is case-insensitive like the subscription itself (ASCII letters only).
 */
export class Entitlements {
  readonly #exact = new Set<string>();
  readonly #prefixes: string[] = [];
  readonly #all: boolean;

  /** `patterns` as parseSymbolsClaim returns them: checked and upper-cased. */
  constructor(patterns: readonly string[]) {
    let all = false;
    for (const raw of patterns) {
      const p = asciiUpper(raw);
      if (p === "*") all = true;
      else if (p.endsWith("*")) this.#prefixes.push(p.slice(0, -1));
      else this.#exact.add(p);
    }
    this.#all = all;
  }

  allows(symbol: string): boolean {
    if (this.#all || this.#exact.has(symbol)) return true;
    for (const prefix of this.#prefixes) if (symbol.startsWith(prefix)) return true;
    return false;
  }

  /** The requested symbols this holder may not see, in request order (empty: all allowed). */
  missing(symbols: readonly string[]): string[] {
    if (this.#all) return [];
    return symbols.filter((s) => !this.allows(s));
  }
}

/** Most entries a `symbols` claim may hold: a token is a header, not a database. */
export const MAX_ENTITLEMENT_PATTERNS = 10_000;

/**
 * One claim entry: the symbol rule in either ASCII case, optionally followed by `*` (a prefix of
 * a symbol), or `*` alone. Spelled out in ASCII rather than upper-cased and then tested:
 * Unicode case mapping turns "ı" into "I", "ﬀ" into "FF" and "ß" into "SS", so an entry the
 * issuer never wrote would be granted; and nothing is trimmed, so `" *"` is not `*`.
 */
const CLAIM_ENTRY = /^(?:\*|[A-Za-z0-9][A-Za-z0-9.\-]{0,15}\*?)$/;

/** Upper-case a-z only; every other code unit is kept as it is. */
function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/**
 * The `symbols` claim, checked: an array of strings, each an exact symbol, a prefix of one
 * ending in `*`, or `*`, exactly as written but for ASCII case. Anything else is not a pattern
 * we know, so the token is refused as malformed (401) rather than read in a way its issuer did
 * not mean. Returns the entries upper-cased, or null when the claim is unusable.
 */
export function parseSymbolsClaim(claim: unknown): string[] | null {
  if (!Array.isArray(claim) || claim.length > MAX_ENTITLEMENT_PATTERNS) return null;
  const out: string[] = [];
  for (const entry of claim) {
    if (typeof entry !== "string" || !CLAIM_ENTRY.test(entry)) return null;
    out.push(asciiUpper(entry));
  }
  return out;
}
