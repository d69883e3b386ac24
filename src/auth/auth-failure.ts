/** Why a subscription's token was refused; the `reason` label of quotecast_auth_failures_total. */
export type AuthFailureReason = "missing" | "malformed" | "expired" | "not_yet_valid" | "bad_signature" | "not_entitled" | "origin_not_allowed";

export const AUTH_FAILURE_REASONS: readonly AuthFailureReason[] = [
  "missing",
  "malformed",
  "expired",
  "not_yet_valid",
  "bad_signature",
  "not_entitled",
  "origin_not_allowed",
];

/** Failures that are about the token itself, not about what it grants. */
export type TokenFailureReason = Exclude<AuthFailureReason, "not_entitled" | "origin_not_allowed">;

/** What a client is told for each reason: enough to act on, nothing about the token itself. */
export const AUTH_FAILURE_MESSAGES: Readonly<Record<TokenFailureReason, string>> = {
  missing: "authentication required: send a token as 'Authorization: Bearer <jwt>', the token query parameter or the quotecast_token cookie",
  malformed: "the token is not a well-formed JWT with a numeric exp and a symbols claim (an array of symbols or prefixes ending in *)",
  expired: "the token has expired: get a fresh one",
  not_yet_valid: "the token is not valid yet (nbf is in the future)",
  bad_signature: "the token's signature does not verify with this server's key",
};

/**
 * A subscription refused by authentication or entitlement: the reason to count and a message the
 * client can act on. It knows nothing of the transport; http maps the reason to a status (401 for
 * a token failure, 403 otherwise) and to `WWW-Authenticate` (src/http/auth-errors.ts).
 */
export class AuthFailure extends Error {
  override readonly name = "AuthFailure";
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** The failure for a reason about the token itself, with its standard message. */
export function tokenFailure(reason: TokenFailureReason): AuthFailure {
  return new AuthFailure(reason, AUTH_FAILURE_MESSAGES[reason]);
}
