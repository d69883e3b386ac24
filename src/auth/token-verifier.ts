import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors, jwtVerify, type JWK, type JWTVerifyGetKey } from "jose";
import { ConfigError } from "../config/config-error.js";
import type { TokenFailureReason } from "./auth-failure.js";
import { Entitlements, parseSymbolsClaim } from "./entitlements.js";

/** A token that verified: who holds it, what they may see, and until when. */
export interface Grant {
  readonly sub: string | undefined;
  readonly entitlements: Entitlements;
  /** `exp`, in milliseconds since the epoch: the stream is closed then. */
  readonly expiresAtMs: number;
}

export type Verification = { ok: true; grant: Grant } | { ok: false; reason: Exclude<TokenFailureReason, "missing"> };

export interface TokenVerifier {
  verify(token: string): Promise<Verification>;
}

/** How a verifier is configured: exactly one of the two, as the serve options give them. */
export interface AuthOptions {
  readonly hs256Secret?: string | undefined;
  /** Path of a PEM public key (RSA or Ed25519) or of a JWKS JSON file. */
  readonly publicKeyFile?: string | undefined;
}

/** An HS256 secret shorter than this is guessable offline from one token (RFC 7518 §3.2). */
export const MIN_HS256_SECRET_BYTES = 32;

/**
 * Build the verifier once per process from the serve options; null when authentication is off.
 * Throws ConfigError for an unusable key so that the server refuses to start rather than serve
 * without the authentication it was asked for.
 */
export function createTokenVerifier(opts: AuthOptions): TokenVerifier | null {
  if (opts.hs256Secret !== undefined && opts.publicKeyFile !== undefined) {
    throw new ConfigError("give either --auth-hs256-secret or --auth-public-key, not both");
  }
  if (opts.hs256Secret !== undefined) {
    const secret = new TextEncoder().encode(opts.hs256Secret);
    if (secret.length < MIN_HS256_SECRET_BYTES) {
      throw new ConfigError(`--auth-hs256-secret must be at least ${MIN_HS256_SECRET_BYTES} bytes long (it is ${secret.length})`);
    }
    return new JoseVerifier(secret, ["HS256"]);
  }
  if (opts.publicKeyFile !== undefined) return publicKeyVerifier(opts.publicKeyFile);
  return null;
}

function publicKeyVerifier(path: string): TokenVerifier {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`--auth-public-key: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trimStart().startsWith("{")) {
    let jwks: { keys?: unknown };
    try {
      jwks = JSON.parse(text) as { keys?: unknown };
    } catch (err) {
      throw new ConfigError(`--auth-public-key: ${path} is neither a PEM key nor valid JSON`, { cause: err });
    }
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new ConfigError(`--auth-public-key: ${path} is JSON but not a JWKS (no "keys" array)`);
    if ((jwks.keys as JWK[]).some((k) => k.d !== undefined || k.k !== undefined)) {
      throw new ConfigError(`--auth-public-key: ${path} holds private or symmetric key material; give the public keys only`);
    }
    return new JoseVerifier(createLocalJWKSet({ keys: jwks.keys as JWK[] }), ["RS256", "EdDSA"]);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (err) {
    throw new ConfigError(`--auth-public-key: ${path} is not a PEM public key: ${(err as Error).message}`, { cause: err });
  }
  switch (key.asymmetricKeyType) {
    case "rsa":
      return new JoseVerifier(key, ["RS256"]);
    case "ed25519":
      return new JoseVerifier(key, ["EdDSA"]);
    default:
      throw new ConfigError(`--auth-public-key: ${path} is a ${key.asymmetricKeyType ?? "unknown"} key; RSA (RS256) or Ed25519 (EdDSA) are supported`);
  }
}

class JoseVerifier implements TokenVerifier {
  constructor(
    private readonly key: Uint8Array | KeyObject | JWTVerifyGetKey,
    private readonly algorithms: string[],
  ) {}

  async verify(token: string): Promise<Verification> {
    let payload: Record<string, unknown>;
    try {
      // The algorithm list is fixed by the key we hold: a token cannot choose `none` or HS256-with-a-public-key.
      const result = await jwtVerify(token, this.key as Uint8Array, { algorithms: this.algorithms, requiredClaims: ["exp"] });
      payload = result.payload;
    } catch (err) {
      return { ok: false, reason: classify(err) };
    }
    const patterns = parseSymbolsClaim(payload.symbols);
    const exp = payload.exp;
    if (patterns === null || typeof exp !== "number") return { ok: false, reason: "malformed" };
    const sub = typeof payload.sub === "string" ? payload.sub : undefined;
    return { ok: true, grant: { sub, entitlements: new Entitlements(patterns), expiresAtMs: exp * 1000 } };
  }
}

/** Map jose's errors onto our failure reasons. */
export function classify(err: unknown): Exclude<TokenFailureReason, "missing"> {
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) return err.claim === "nbf" && err.reason === "check_failed" ? "not_yet_valid" : "malformed";
  // Signed with another key, or with an algorithm this server's key does not use (`none` included).
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSEAlgNotAllowed
  ) {
    return "bad_signature";
  }
  // JWSInvalid, JWTInvalid, JOSENotSupported, and anything else.
  return "malformed";
}
