import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import type { Fanout } from "../stream/fanout.js";
import { retryField } from "../stream/sse-frames.js";
import { ServiceUnavailableError } from "./errors.js";
import { parseQuotesRequest, type QuotesRequestLimits } from "./quotes-request.js";
import { respondError } from "./respond.js";
import { UwsSink } from "./uws-sink.js";

export interface QuotesRouteDeps {
  readonly fanout: Fanout;
  readonly limits: QuotesRequestLimits;
  readonly corsOrigins: readonly string[];
  /** True once SIGTERM has been received: new subscriptions go elsewhere. */
  isDraining(): boolean;
}

/** Browsers reconnect after this long (plus jitter) when a stream ends. */
export const RETRY_BASE_MS = 1000;
export const RETRY_JITTER_MS = 1000;

/** `GET /quotes?symbols=…`: validate, answer the SSE headers, hand the socket to the fan-out. */
export function quotesRoute(deps: QuotesRouteDeps): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    // HttpRequest is stack-allocated by uWS: read everything from it before doing anything else.
    const query = req.getQuery() ?? "";
    const lastEventId = req.getHeader("last-event-id");
    const origin = req.getHeader("origin");
    try {
      const request = parseQuotesRequest(query, lastEventId, deps.limits);
      if (deps.isDraining()) throw new ServiceUnavailableError("server is draining; reconnect to another instance", 1);
      const sink = new UwsSink(res);
      res.cork(() => {
        res.writeStatus("200 OK");
        res.writeHeader("Content-Type", "text/event-stream");
        res.writeHeader("Cache-Control", "no-cache");
        res.writeHeader("X-Accel-Buffering", "no");
        const allowed = allowedOrigin(origin, deps.corsOrigins);
        if (allowed !== null) {
          res.writeHeader("Access-Control-Allow-Origin", allowed);
          res.writeHeader("Vary", "Origin");
        }
        // The first body write also flushes the headers, so the client sees 200 at once
        // even while its snapshot waits for the last values to load.
        res.write(retryField(RETRY_BASE_MS + Math.random() * RETRY_JITTER_MS));
      });
      const conn = deps.fanout.open(request.symbols, request.intervalMs, request.lastEventId, sink, performance.now());
      // uWS rule: a response not ended inside its handler MUST have onAborted attached before
      // the handler returns, and must never be touched after it fires.
      res.onAborted(() => {
        sink.aborted = true;
        deps.fanout.remove(conn);
      });
      res.onWritable(() => {
        deps.fanout.onWritable(conn);
        // Nothing is retried here (a failed write was still buffered whole): report success.
        return true;
      });
    } catch (err) {
      respondError(res, err);
    }
  };
}

function allowedOrigin(origin: string, allowed: readonly string[]): string | null {
  if (origin === "" || allowed.length === 0) return null;
  if (allowed.includes("*")) return "*";
  return allowed.includes(origin) ? origin : null;
}
