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

export class NotFoundError extends HttpError {
  override readonly name = "NotFoundError";
  constructor(path: string) {
    super(404, `no such path: ${path}`);
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
  500: "500 Internal Server Error",
  503: "503 Service Unavailable",
};
