/**
 * Cross-origin policy of the subscription endpoint. Pure.
 *
 * Browsers send `Origin` on cross-origin requests (and EventSource is one). An origin on the
 * allowlist gets `Access-Control-Allow-Origin` echoed (with credentials, so the token cookie
 * works from an allowed site); `*` on the list allows every origin, without credentials. A
 * request from the server's own origin, or without `Origin` (curl, servers, same-origin GETs),
 * needs no CORS headers. Any other origin is refused with 403 before any work: its browser
 * would hide the stream from the page anyway, and it should not hold a connection slot.
 */
export type OriginDecision =
  | { readonly kind: "no-cors" }
  | { readonly kind: "allowed"; readonly allowOrigin: string; readonly credentials: boolean }
  | { readonly kind: "forbidden" };

export function decideOrigin(origin: string, host: string, allowlist: readonly string[]): OriginDecision {
  if (origin === "") return { kind: "no-cors" };
  if (allowlist.includes(origin)) return { kind: "allowed", allowOrigin: origin, credentials: true };
  if (allowlist.includes("*")) return { kind: "allowed", allowOrigin: "*", credentials: false };
  if (isSameOrigin(origin, host)) return { kind: "no-cors" };
  return { kind: "forbidden" };
}

function isSameOrigin(origin: string, host: string): boolean {
  if (host === "") return false;
  try {
    const u = new URL(origin);
    if (u.protocol !== "http:" && u.protocol !== "https:") return false;
    // Compare host and port only: behind a TLS-terminating proxy the page is https and we see http.
    return u.host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}

/** Headers of an answer to an allowed origin, preflight or not. */
export function corsHeaders(d: OriginDecision & { kind: "allowed" }): Record<string, string> {
  const h: Record<string, string> = { "Access-Control-Allow-Origin": d.allowOrigin, Vary: "Origin" };
  if (d.credentials) h["Access-Control-Allow-Credentials"] = "true";
  return h;
}

/** What a browser may send on a subscription: the token header and the resume header. */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Methods": "GET",
  "Access-Control-Allow-Headers": "Authorization, Last-Event-ID, Cache-Control",
  "Access-Control-Max-Age": "600",
};
