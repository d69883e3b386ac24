/**
 * The `symbols` claim of a token: what its holder may subscribe to. Each entry is an exact
 * symbol (`AAPL`), a prefix ending in `*` (`BRK.*`, `BTC-*`), or `*` alone for everything.
 * Pure; matching is case-insensitive like the subscription itself.
 */
export class Entitlements {
  readonly #exact = new Set<string>();
  readonly #prefixes: string[] = [];
  readonly #all: boolean;

  constructor(patterns: readonly string[]) {
    let all = false;
    for (const raw of patterns) {
      const p = raw.trim().toUpperCase();
      if (p === "") continue;
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
 * The `symbols` claim, checked: an array of strings, each an exact symbol or a prefix ending
 * in `*` (a `*` anywhere else is not a pattern we know, so the token is refused as malformed
 * rather than read in a way its issuer did not mean). Returns null when the claim is unusable.
 */
export function parseSymbolsClaim(claim: unknown): string[] | null {
  if (!Array.isArray(claim) || claim.length > MAX_ENTITLEMENT_PATTERNS) return null;
  const out: string[] = [];
  for (const entry of claim) {
    if (typeof entry !== "string") return null;
    const star = entry.indexOf("*");
    if (star !== -1 && star !== entry.length - 1) return null;
    out.push(entry);
  }
  return out;
}
