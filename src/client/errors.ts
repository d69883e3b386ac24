/** Errors the SDK reports through `onError`. Each has `name` set so callers can branch on it. */

/** The server answered with a status other than 200; `message` is the server's `{"error": ...}` text when it sent one. */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";
  constructor(
    readonly status: number,
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

/** A frame the SDK could not use (not JSON, not an array of quotes); the stream goes on. */
export class FrameError extends Error {
  override readonly name = "FrameError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The connection failed or ended (network loss, server restart, drain, no event for `staleMs`). */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
