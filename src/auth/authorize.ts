import { AuthFailure, tokenFailure } from "./auth-failure.js";
import { findToken } from "./token-source.js";
import type { Grant, TokenVerifier } from "./token-verifier.js";

/** Where a request's token may be; read from the request before any await. */
export interface TokenCarriers {
  readonly authorization: string;
  readonly queryToken: string | undefined;
  readonly cookie: string;
}

/** Most symbols named in a 403: the client asked for them, it does not need a megabyte back. */
const MAX_NAMED = 20;

/**
 * Find, verify and check the token of a subscription to `symbols`. Resolves with the grant, or
 * rejects with an AuthFailure carrying the reason to count (http answers it 401 or 403). The
 * token never appears in the error.
 */
export async function authorize(verifier: TokenVerifier, carriers: TokenCarriers, symbols: readonly string[], nowMs: number): Promise<Grant> {
  const found = findToken(carriers.authorization, carriers.queryToken, carriers.cookie);
  if (!found.ok) throw tokenFailure(found.reason);
  const v = await verifier.verify(found.token);
  if (!v.ok) throw tokenFailure(v.reason);
  // jose checked exp against its own clock when it verified; this re-check keeps "expired"
  // exact for a caller whose clock is given (tests) and costs nothing.
  if (v.grant.expiresAtMs <= nowMs) throw tokenFailure("expired");
  const missing = v.grant.entitlements.missing(symbols);
  if (missing.length > 0) {
    const named = missing.slice(0, MAX_NAMED).join(", ") + (missing.length > MAX_NAMED ? ` and ${missing.length - MAX_NAMED} more` : "");
    throw new AuthFailure("not_entitled", `not entitled to ${missing.length === 1 ? "symbol" : "symbols"} ${named}`);
  }
  return v.grant;
}
