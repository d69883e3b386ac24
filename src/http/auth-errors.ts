import type { AuthFailure } from "../auth/auth-failure.js";
import { ForbiddenError, type HttpError, UnauthorizedError } from "./errors.js";

/**
 * The answer to a refused subscription. A failure about the token itself is 401 with
 * `WWW-Authenticate` (RFC 6750: plain `Bearer` when no token came, `error="invalid_token"` when
 * one did); a good token without the right (entitlement, origin) is 403.
 */
export function authHttpError(failure: AuthFailure): HttpError {
  switch (failure.reason) {
    case "not_entitled":
    case "origin_not_allowed":
      return new ForbiddenError(failure.message);
    default:
      return new UnauthorizedError(failure.message, failure.reason !== "missing");
  }
}
