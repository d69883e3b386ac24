import { createHash } from "node:crypto";

/** A response body held in memory with what is needed to answer for it, including conditionally. */
export interface StaticAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong validator: the content's hash, quoted. */
  readonly etag: string;
  readonly cacheControl: string;
}

export function staticAsset(body: string | Buffer, contentType: string, cacheControl: string): StaticAsset {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const etag = '"' + createHash("sha256").update(bytes).digest("base64url").slice(0, 22) + '"';
  return { body: bytes, contentType, etag, cacheControl };
}

/**
 * Does an `If-None-Match` header match `etag`? (RFC 9110 §13.1.2: weak comparison, a list of
 * tags, or `*`.) Pure.
 */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === "") return false;
  if (ifNoneMatch.trim() === "*") return true;
  const opaque = etag.replace(/^W\//, "");
  for (const part of ifNoneMatch.split(",")) {
    if (part.trim().replace(/^W\//, "") === opaque) return true;
  }
  return false;
}

/** The content type of an asset we serve, by its file name; undefined for anything else. */
export function contentTypeOf(name: string): string | undefined {
  if (name.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (name.endsWith(".css")) return "text/css; charset=utf-8";
  if (name.endsWith(".html")) return "text/html; charset=utf-8";
  return undefined;
}
