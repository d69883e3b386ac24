import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import type * as UWS from "uWebSockets.js";
import { MethodNotAllowedError, NotFoundError } from "./errors.js";
import { boardAssetRoute, boardPageRoute, loadBoardAssets } from "./board-route.js";
import { HeadResponse } from "./head-response.js";
import { type AmbiguousFramingError, checkFraming, checkRequestLimits } from "./request-limits.js";
import { rejectAndClose } from "./reject-and-close.js";
import { quotesPreflight, quotesRoute, type QuotesRouteDeps } from "./quotes-route.js";
import { respond, respondError } from "./respond.js";

export interface AppDeps extends QuotesRouteDeps {
  /** Connected to NATS, last values loaded, not draining. */
  isReady(): boolean;
  /** Symbols the board shows when the page is opened without `?symbols=`. */
  readonly defaultSymbols: readonly string[];
}

type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** The public HTTP surface of a worker. Every handler answers or attaches onAborted before returning. */
export function createApp(uws: typeof UWS, deps: AppDeps): TemplatedApp {
  const app = uws.App();
  const board = loadBoardAssets(deps.defaultSymbols);
  app.options("/quotes", limited(quotesPreflight(deps)));
  // /quotes reads the method itself: its HEAD checks everything a GET would and opens no stream.
  route(app, "/quotes", quotesRoute(deps));
  route(app, "/healthz", (res) => respond(res, 200, "application/json", '{"status":"ok"}'));
  route(app, "/readyz", (res) => {
    if (deps.isReady()) respond(res, 200, "application/json", '{"status":"ready"}');
    else respond(res, 503, "application/json", JSON.stringify({ error: deps.isDraining() ? "draining" : "not connected to NATS or last values not loaded" }), { "Retry-After": "1" });
  });
  route(app, "/", boardPageRoute(board));
  route(app, "/assets/*", boardAssetRoute(board));
  // getUrl() is the path without the query string, so a `token` parameter is never echoed.
  app.any("/*", headless(limited((res, req) => respondError(res, new NotFoundError(req.getUrl())))));
  return app;
}

/**
 * GET and HEAD on `path`: HEAD runs the GET handler and gets its status and headers, never its
 * body (RFC 9110 §9.3.2; load balancers probe with HEAD). Any other method gets 405 with an Allow
 * header. Request limits are checked before any of it.
 */
function route(app: TemplatedApp, path: string, handler: Handler): void {
  app.get(path, limited(guarded(handler)));
  app.head(path, headless(limited(guarded(handler))));
  app.any(path, headless(limited((res, req) => respondError(res, new MethodNotAllowedError(req.getMethod(), ["GET", "HEAD"])))));
}

/** No answer to a HEAD carries a body, whatever its status: errors included. */
function headless(handler: Handler): Handler {
  return (res, req) => handler(req.getMethod() === "head" ? new HeadResponse(res).asHttpResponse() : res, req);
}

/** A throw inside a uWS callback must never reach uWS: answer 500 and keep serving. */
function guarded(handler: Handler): Handler {
  return (res, req) => {
    try {
      handler(res, req);
    } catch (err) {
      try {
        respondError(res, err);
      } catch {
        // The response was already ended or aborted: nothing more to say to this client.
      }
    }
  };
}

/**
 * Oversized requests are answered 414/431 before their handler runs. Counting the headers walks
 * them once: cheap next to anything a handler does, and it is per request, not per frame.
 */
function limited(handler: Handler): Handler {
  return (res, req) => {
    const target = req.getUrl().length + (req.getQuery()?.length ?? -1) + 1;
    let count = 0;
    let bytes = 0;
    const contentLengths: string[] = [];
    let transferEncoding = false;
    req.forEach((name, value) => {
      count++;
      bytes += name.length + value.length + 4;
      if (name === "content-length") contentLengths.push(value);
      else if (name === "transfer-encoding") transferEncoding = true;
    });
    try {
      checkRequestLimits(target, count, bytes);
    } catch (err) {
      respondError(res, err);
      return;
    }
    try {
      checkFraming(contentLengths, transferEncoding);
    } catch (err) {
      rejectAndClose(res, err as AmbiguousFramingError, req.getMethod() === "head");
      return;
    }
    handler(res, req);
  };
}
