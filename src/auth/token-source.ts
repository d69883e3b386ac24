/**
 * Where a subscription's token comes from, in this order: `Authorization: Bearer …`, the
 * `token` query parameter (browsers' EventSource cannot set headers), the `quotecast_token`
 * cookie. Pure. The token itself is never put into an error message: messages can be logged.
 */
export const TOKEN_COOKIE = "quotecast_token";

/** Longer tokens are refused unread: no legitimate token of ours comes near this. */
export const MAX_TOKEN_LENGTH = 8192;

export type TokenLookup = { ok: true; token: string } | { ok: false; reason: "missing" | "malformed" };

export function findToken(authorization: string, queryToken: string | undefined, cookieHeader: string): TokenLookup {
  if (authorization !== "") {
    const m = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(authorization);
    return m === null ? { ok: false, reason: "malformed" } : checked(m[1]!);
  }
  if (queryToken !== undefined && queryToken !== "") return checked(queryToken);
  const fromCookie = cookieValue(cookieHeader, TOKEN_COOKIE);
  if (fromCookie !== undefined && fromCookie !== "") return checked(fromCookie);
  return { ok: false, reason: "missing" };
}

function checked(token: string): TokenLookup {
  return token.length > MAX_TOKEN_LENGTH ? { ok: false, reason: "malformed" } : { ok: true, token };
}

/** One cookie's value from a `Cookie` header (RFC 6265: `name=value` pairs joined by `; `). */
export function cookieValue(header: string, name: string): string | undefined {
  if (header === "") return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}
