import { HeadersTooLargeError, HttpError, UriTooLongError } from "./errors.js";

/**
 * Size limits every request meets before any work is done for it. uWebSockets.js 20.30 (the
 * trufflesuite build) answers nothing itself: a request whose head arrives in several reads is
 * reset once it passes 4 KiB (UWS_HTTP_MAX_HEADERS_SIZE is not read by this build), one with
 * more than 49 headers or that is not HTTP is ignored until its ~10 s timeout for unfinished
 * requests closes it. A head that arrives in one read reaches us whole whatever its size; these
 * limits answer it with a status the client can understand (test/request-limits.test.ts).
 */
export interface RequestLimits {
  /** Path plus query string, in bytes. */
  readonly maxTargetBytes: number;
  /** Names and values of all headers together. */
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
}

export const REQUEST_LIMITS: RequestLimits = {
  // 500 symbols of up to 16 characters and their commas, a token and a resume id fit in 16 KiB.
  maxTargetBytes: 16_384,
  maxHeaderBytes: 16_384,
  maxHeaderCount: 40,
};

/** Throws UriTooLongError (414) or HeadersTooLargeError (431). Pure. */
export function checkRequestLimits(targetBytes: number, headerCount: number, headerBytes: number, limits: RequestLimits = REQUEST_LIMITS): void {
  if (targetBytes > limits.maxTargetBytes) throw new UriTooLongError(targetBytes, limits.maxTargetBytes);
  if (headerCount > limits.maxHeaderCount) throw new HeadersTooLargeError(`${headerCount} request headers; at most ${limits.maxHeaderCount} are accepted`);
  if (headerBytes > limits.maxHeaderBytes) throw new HeadersTooLargeError(`request headers are ${headerBytes} bytes; at most ${limits.maxHeaderBytes} are accepted`);
}

/**
 * The request's body framing is ambiguous: a front end and this server could disagree on where
 * the next request starts (request smuggling). Answered 400 and the connection closed (RFC 9112
 * §6.3), never read further.
 */
export class AmbiguousFramingError extends HttpError {
  override readonly name = "AmbiguousFramingError";
  constructor(message: string) {
    super(400, message);
  }
}

const CONTENT_LENGTH_VALUE = /^[0-9]+$/;

/**
 * Check the framing headers of a request, as uWS handed them over: every `Content-Length` value
 * (each may be a comma-separated list) and whether `Transfer-Encoding` was present. Pure; throws
 * AmbiguousFramingError.
 *
 * uWebSockets.js 20.30 frames a body by the first `Content-Length` header alone and ignores
 * `Transfer-Encoding`, so `Content-Length: 0` then `Content-Length: 39` made it read a 39-byte
 * body as a second request, and a chunked body would be parsed as requests too. No route here
 * takes a body, so any `Transfer-Encoding` is refused; `Content-Length` values must all be the
 * same non-negative decimal (identical repeats are allowed by RFC 9110 §8.6).
 */
export function checkFraming(contentLengths: readonly string[], hasTransferEncoding: boolean): void {
  if (hasTransferEncoding) {
    throw new AmbiguousFramingError(contentLengths.length > 0 ? "Content-Length with Transfer-Encoding is not accepted" : "Transfer-Encoding is not accepted: no request here has a body");
  }
  let first: string | undefined;
  for (const header of contentLengths) {
    for (const raw of header.split(",")) {
      const v = raw.trim();
      if (!CONTENT_LENGTH_VALUE.test(v)) throw new AmbiguousFramingError(`malformed Content-Length ${JSON.stringify(header.slice(0, 32))}`);
      // "007" and "7" frame the same body; compare numbers, not spellings.
      const n = v.replace(/^0+(?=\d)/, "");
      if (first === undefined) first = n;
      else if (n !== first) throw new AmbiguousFramingError("Content-Length headers with different values");
    }
  }
}
