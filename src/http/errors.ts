/** An error a client caused: carries the HTTP status and a message the client can act on. */
export class HttpError extends Error {
  override readonly name: string = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class BadRequestError extends HttpError {
  override readonly name = "BadRequestError";
  constructor(message: string) {
    super(400, message);
  }
}

/** No usable token. `WWW-Authenticate` tells the client which scheme to use (RFC 6750). */
export class UnauthorizedError extends HttpError {
  override readonly name = "UnauthorizedError";
  constructor(message: string, invalidToken: boolean) {
    super(401, message, { "WWW-Authenticate": invalidToken ? 'Bearer error="invalid_token"' : "Bearer" });
  }
}

export class ForbiddenError extends HttpError {
  override readonly name = "ForbiddenError";
  constructor(message: string) {
    super(403, message);
  }
}

export class UriTooLongError extends HttpError {
  override readonly name = "UriTooLongError";
  constructor(length: number, max: number) {
    super(414, `request target is ${length} bytes long; at most ${max} are accepted`);
  }
}

export class HeadersTooLargeError extends HttpError {
  override readonly name = "HeadersTooLargeError";
  constructor(message: string) {
    super(431, message);
  }
}

/** Paths longer than this are cut in the message: a client's URL is echoed, not its megabytes. */
const MAX_ECHOED_PATH = 200;

export class NotFoundError extends HttpError {
  override readonly name = "NotFoundError";
  constructor(path: string) {
    super(404, `no such path: ${path.length > MAX_ECHOED_PATH ? path.slice(0, MAX_ECHOED_PATH) + "…" : path}`);
  }
}

export class MethodNotAllowedError extends HttpError {
  override readonly name = "MethodNotAllowedError";
  constructor(method: string, allowed: readonly string[]) {
    super(405, `method ${method.toUpperCase()} is not allowed here; use ${allowed.join(", ")}`, { Allow: allowed.join(", ") });
  }
}

export class ServiceUnavailableError extends HttpError {
  override readonly name = "ServiceUnavailableError";
  constructor(message: string, retryAfterSeconds: number) {
    super(503, message, { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
}

/** The JSON body of every error answer: `{"error": "<message>"}`. */
export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/** HTTP status lines for the statuses we send. */
export const STATUS_LINES: Readonly<Record<number, string>> = {
  200: "200 OK",
  204: "204 No Content",
  400: "400 Bad Request",
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
  405: "405 Method Not Allowed",
  414: "414 URI Too Long",
  431: "431 Request Header Fields Too Large",
  500: "500 Internal Server Error",
  503: "503 Service Unavailable",
};
