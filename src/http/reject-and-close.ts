import type { HttpResponse } from "uWebSockets.js";
import { errorBody, type HttpError, STATUS_LINES } from "./errors.js";

/**
 * Answer `err` and close the connection, without answering anything else the client sent on it.
 *
 * The answer is deferred on purpose. uWebSockets.js 20.30 keeps parsing the bytes it has already
 * read after a handler returns, even after `end(body, true)`: a smuggled request in the same read
 * was answered after our 400 (test/request-limits.test.ts). With this response still pending when
 * uWS reaches such a request, uWS closes the connection instead of dispatching it (it does not
 * pipeline), so the smuggled request is never answered; when there is none, the 400 goes out on
 * the next turn with `Connection: close`, and uWS reads nothing more once it has shut down.
 */
export function rejectAndClose(res: HttpResponse, err: HttpError, isHead: boolean): void {
  let aborted = false;
  // Required before returning from a handler that has not answered; also tells us uWS closed it.
  res.onAborted(() => {
    aborted = true;
  });
  setImmediate(() => {
    if (aborted) return;
    const body = errorBody(err.message);
    // Outside the handler now: cork so the head and body leave in one write.
    res.cork(() => {
      res.writeStatus(STATUS_LINES[err.status] ?? String(err.status));
      res.writeHeader("Content-Type", "application/json");
      res.writeHeader("Cache-Control", "no-store");
      if (isHead) {
        // uWS 20.30 aborts the process on endWithoutBody(length): the length goes in as a header
        // (as HeadResponse does), and no body follows.
        res.writeHeader("Content-Length", String(Buffer.byteLength(body)));
        res.endWithoutBody();
      }
      else res.end(body, true);
    });
  });
}
