import { ForbiddenError, HttpError, UnauthorizedError } from "../http/errors.js";
import { AUTH_FAILURE_MESSAGES, type AuthFailureReason, type TokenFailureReason } from "./auth-failure.js";
import { findToken } from "./token-source.js";
import type { Grant, TokenVerifier } from "./token-verifier.js";

/** Where a request's token may be; read from the request before any await. */
export interface TokenCarriers {
  readonly authorization: string;
  readonly queryToken: string | undefined;
  readonly cookie: string;
}

export class AuthFailure extends HttpError {
  override readonly name = "AuthFailure";
  constructor(
    readonly reason: AuthFailureReason,
    err: HttpError,
  ) {
    super(err.status, err.message, err.headers);
  }
}

/** Most symbols named in a 403: the client asked for them, it does not need a megabyte back. */
const MAX_NAMED = 20;

/**
 * Find, verify and check the token of a subscription to `symbols`. Resolves with the grant, or
 * rejects with an AuthFailure (401 or 403) carrying the reason to count. The token never
 * appears in the error.
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
    throw new AuthFailure("not_entitled", new ForbiddenError(`not entitled to ${missing.length === 1 ? "symbol" : "symbols"} ${named}`));
  }
  return v.grant;
}

export function tokenFailure(reason: TokenFailureReason): AuthFailure {
  return new AuthFailure(reason, new UnauthorizedError(AUTH_FAILURE_MESSAGES[reason], reason !== "missing"));
}
