/** Errors the client reports through `onError` (or throws). Each has `name` set so callers can branch on it. */

/** The server answered with a status other than 200; `message` is the server's `{"error": ...}` text when it sent one. */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";
  constructor(
    /** The HTTP status, e.g. 401, 403, 503. */
    readonly status: number,
    message: string,
    /** The base URL that answered. */
    readonly url: string,
  ) {
    super(message);
  }
}

/** A frame the client could not use (not JSON, not an array of quotes); the stream goes on. */
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

/**
 * The symbols wanted at once (every subscription of the page, or of every tab sharing the
 * connection) would exceed `maxSymbols`, the server's `--max-symbols`. Thrown by `subscribe` for the
 * subscription that would go over; across tabs, reported through `onError` of the tab whose symbols
 * were refused. Symbols are never dropped silently.
 */
export class TooManySymbolsError extends Error {
  override readonly name = "TooManySymbolsError";
  constructor(
    /** How many distinct symbols were asked for. */
    readonly requested: number,
    /** The limit (`maxSymbols`). */
    readonly max: number,
  ) {
    super(`${requested} symbols asked for at once, more than the ${max} one connection may carry (maxSymbols, the server's --max-symbols)`);
  }
}
