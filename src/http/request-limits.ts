import { HeadersTooLargeError, UriTooLongError } from "./errors.js";

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
