import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import type { Verdict } from "../cluster/admission.js";
import type { RejectReason } from "../metrics/worker-metrics.js";
import type { Connection } from "../stream/connection.js";
import type { Fanout } from "../stream/fanout.js";
import { retryField } from "../stream/sse-frames.js";
import { clientAddress } from "./client-address.js";
import { ServiceUnavailableError } from "./errors.js";
import { parseQuotesRequest, type QuotesRequest, type QuotesRequestLimits } from "./quotes-request.js";
import { respondError } from "./respond.js";
import { UwsSink } from "./uws-sink.js";

/** Decides, for the whole server, whether a new connection may open. */
export interface AdmissionGate {
  admit(ip: string): Promise<Verdict>;
  release(ip: string): void;
}

export interface QuotesRouteDeps {
  readonly fanout: Fanout;
  readonly admission: AdmissionGate;
  readonly limits: QuotesRequestLimits;
  readonly corsOrigins: readonly string[];
  readonly trustProxy: readonly string[];
  /** Refused subscriptions, by reason (read by the metrics). */
  readonly rejected: Record<RejectReason, number>;
  /** True once SIGTERM has been received: new subscriptions go elsewhere. */
  isDraining(): boolean;
  /** Most connections this worker can hold within its file-descriptor limit. */
  readonly connectionBudget: number;
}

/** Browsers reconnect after this long (plus jitter) when a stream ends. */
export const RETRY_BASE_MS = 1000;
export const RETRY_JITTER_MS = 1000;

const decoder = new TextDecoder();

/** `GET /quotes?symbols=…`: validate, admit, answer the SSE headers, hand the socket to the fan-out. */
export function quotesRoute(deps: QuotesRouteDeps): (res: HttpResponse, req: HttpRequest) => void {
  // Subscriptions waiting for the primary's verdict: they hold a descriptor too.
  const pending = { count: 0 };
  return (res, req) => {
    // HttpRequest is stack-allocated by uWS: read everything from it before anything else.
    const query = req.getQuery() ?? "";
    const lastEventId = req.getHeader("last-event-id");
    const origin = req.getHeader("origin");
    const ip = clientAddress(decoder.decode(res.getRemoteAddressAsText()), req.getHeader("x-forwarded-for"), deps.trustProxy);
    let request: QuotesRequest;
    try {
      request = parseQuotesRequest(query, lastEventId, deps.limits);
      if (deps.isDraining()) throw draining(deps);
      if (deps.fanout.connectionCount + pending.count >= deps.connectionBudget) {
        deps.rejected.max_connections++;
        throw new ServiceUnavailableError("this server process is at its file-descriptor limit; retry later", 5 + Math.floor(Math.random() * 10));
      }
    } catch (err) {
      respondError(res, err);
      return;
    }
    const sub = new Subscriber(res, ip, deps);
    // uWS rule: a response not ended inside its handler MUST have onAborted attached before the
    // handler returns, and must never be touched after it fires.
    res.onAborted(() => sub.aborted());
    pending.count++;
    deps.admission.admit(ip).then(
      (verdict) => {
        pending.count--;
        sub.admitted(verdict, request, origin);
      },
      () => {
        pending.count--;
        sub.admitted({ ok: true }, request, origin);
      },
    );
  };
}

/** One subscription from admission to its end, whichever way it ends. */
class Subscriber {
  #gone = false;
  #holdsSlot = false;
  #sink: UwsSink | null = null;
  #conn: Connection | null = null;

  constructor(
    private readonly res: HttpResponse,
    private readonly ip: string,
    private readonly deps: QuotesRouteDeps,
  ) {}

  admitted(verdict: Verdict, request: QuotesRequest, origin: string): void {
    if (verdict.ok) this.#holdsSlot = true;
    if (this.#gone) {
      this.#finish();
      return;
    }
    const deps = this.deps;
    const res = this.res;
    try {
      if (!verdict.ok) {
        deps.rejected[verdict.reason]++;
        throw new ServiceUnavailableError(rejectMessage(verdict.reason), verdict.retryAfterSeconds);
      }
      if (deps.isDraining()) throw draining(deps);
    } catch (err) {
      this.#gone = true;
      this.#finish();
      respondError(res, err);
      return;
    }
    try {
      this.#open(request, origin);
    } catch {
      // Past the headers nothing can be answered any more: drop the connection, keep serving.
      this.#sink?.close();
      this.#finish();
    }
  }

  #open(request: QuotesRequest, origin: string): void {
    const deps = this.deps;
    const res = this.res;
    const sink = (this.#sink = new UwsSink(res));
    // Outside the request handler now (after an await): cork, or each header is its own syscall.
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
    const conn = (this.#conn = deps.fanout.open(request.symbols, request.intervalMs, request.lastEventId, sink, performance.now()));
    res.onWritable(() => {
      deps.fanout.onWritable(conn);
      // Nothing is retried here (a write that reported congestion was still buffered whole).
      return true;
    });
  }

  aborted(): void {
    this.#gone = true;
    if (this.#sink !== null) this.#sink.aborted = true;
    this.#finish();
  }

  #finish(): void {
    if (this.#conn !== null) {
      this.deps.fanout.remove(this.#conn);
      this.#conn = null;
    }
    if (this.#holdsSlot) {
      this.#holdsSlot = false;
      this.deps.admission.release(this.ip);
    }
  }
}

function draining(deps: QuotesRouteDeps): ServiceUnavailableError {
  deps.rejected.draining++;
  return new ServiceUnavailableError("server is draining; reconnect to another instance", 1 + Math.floor(Math.random() * 3));
}

function rejectMessage(reason: RejectReason): string {
  switch (reason) {
    case "max_connections":
      return "server is at its connection limit; retry later";
    case "max_connections_per_ip":
      return "too many connections from your address; retry later";
    case "connect_rate":
    case "connect_rate_per_ip":
      return "too many new connections; retry later";
    case "draining":
      return "server is draining; reconnect to another instance";
  }
}

function allowedOrigin(origin: string, allowed: readonly string[]): string | null {
  if (origin === "" || allowed.length === 0) return null;
  if (allowed.includes("*")) return "*";
  return allowed.includes(origin) ? origin : null;
}
