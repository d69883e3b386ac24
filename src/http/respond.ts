import type { HttpResponse } from "uWebSockets.js";
import { errorBody, HttpError, STATUS_LINES } from "./errors.js";

/**
 * Answer a request completely, with one corked write. Safe outside a uWS callback too:
 * writes made from a timer or after an await must be corked or each header is its own syscall.
 */
export function respond(res: HttpResponse, status: number, contentType: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.cork(() => {
    res.writeStatus(STATUS_LINES[status] ?? String(status));
    res.writeHeader("Content-Type", contentType);
    res.writeHeader("Cache-Control", "no-store");
    for (const name in headers) res.writeHeader(name, headers[name]!);
    res.end(body);
  });
}

/** Errors answer at once with `{"error": "<message>"}`; anything unexpected is a 500 without details. */
export function respondError(res: HttpResponse, err: unknown, extraHeaders?: Readonly<Record<string, string>>): void {
  if (err instanceof HttpError) {
    respond(res, err.status, "application/json", errorBody(err.message), extraHeaders === undefined ? err.headers : { ...err.headers, ...extraHeaders });
  } else {
    respond(res, 500, "application/json", errorBody("internal error"), extraHeaders);
  }
}
