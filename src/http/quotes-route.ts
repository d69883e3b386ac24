import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { AuthFailure, type AuthFailureReason, tokenFailure } from "../auth/auth-failure.js";
import { authorize, type TokenCarriers } from "../auth/authorize.js";
import type { ExpiryWheel } from "../auth/expiry-wheel.js";
import type { Grant, TokenVerifier } from "../auth/token-verifier.js";
import type { RejectReason } from "../metrics/worker-metrics.js";
import type { Connection } from "../fanout/connection.js";
import type { Fanout } from "../fanout/fanout.js";
import { GzipSink } from "../fanout/gzip-sink.js";
import { retryField } from "../fanout/sse-frames.js";
import { acceptsGzip } from "./accept-encoding.js";
import { authHttpError } from "./auth-errors.js";
import type { AdmissionGate, Verdict } from "./admission-port.js";
import { clientAddress } from "./client-address.js";
import { corsHeaders, decideOrigin, PREFLIGHT_HEADERS, type OriginDecision } from "./cors.js";
import { ForbiddenError, ServiceUnavailableError } from "./errors.js";
import { parseQuotesRequest, type QuotesRequest, type QuotesRequestLimits } from "./quotes-request.js";
import { respond, respondError } from "./respond.js";
import type { SubscriptionBudget } from "./subscription-budget.js";
import { UwsSink } from "./uws-sink.js";

export type { AdmissionGate } from "./admission-port.js";

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
  /** Symbol subscriptions (symbols × connections) this worker may hold: its memory ceiling. */
  readonly subscriptions: SubscriptionBudget;
  /** Token checking; null when authentication is off. */
  readonly auth: SubscriptionAuth | null;
  /** Subscriptions refused by authentication, entitlement or origin policy, by reason. */
  readonly authFailures: Record<AuthFailureReason, number>;
  /** `--compression`: `gzip` compresses streams for clients that accept it. Default `off`. */
  readonly compression?: "off" | "gzip";
}

export interface SubscriptionAuth {
  readonly verifier: TokenVerifier;
  /** Open streams by token expiry; the worker's sweep calls `expire()` on those due. */
  readonly expiry: ExpiryWheel<ExpiringStream>;
}

/** A stream that must end when its token expires. */
export interface ExpiringStream {
  expire(): void;
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
    const origin = decideOrigin(req.getHeader("origin"), req.getHeader("host"), deps.corsOrigins);
    const authorization = deps.auth === null ? "" : req.getHeader("authorization");
    const cookie = deps.auth === null ? "" : req.getHeader("cookie");
    const ip = clientAddress(decoder.decode(res.getRemoteAddressAsText()), req.getHeader("x-forwarded-for"), deps.trustProxy);
    const head = req.getMethod() === "head";
    const encoding: Encoding = deps.compression !== "gzip" ? "identity" : acceptsGzip(req.getHeader("accept-encoding")) ? "gzip" : "identity-varying";
    let request: QuotesRequest;
    try {
      if (origin.kind === "forbidden") {
        deps.authFailures.origin_not_allowed++;
        throw new ForbiddenError("this origin may not subscribe: the server's --cors-origins does not list it");
      }
      request = parseQuotesRequest(query, lastEventId, deps.limits);
      if (deps.isDraining()) throw draining(deps);
      if (deps.fanout.connectionCount + pending.count >= deps.connectionBudget) {
        deps.rejected.max_connections++;
        throw new ServiceUnavailableError("this server process is at its file-descriptor limit; retry later", 5 + Math.floor(Math.random() * 10));
      }
    } catch (err) {
      respondError(res, err, origin.kind === "allowed" ? corsHeaders(origin) : undefined);
      return;
    }
    // HEAD opens no stream and holds no slot, so it does not ask the primary for one, and answers
    // here, synchronously: uWS closes a keep-alive connection whose next request arrives while an
    // answer is still pending, so a pipelined request after an async HEAD would get nothing.
    if (head && deps.auth === null) {
      headersOnly(res, origin.kind === "allowed" ? corsHeaders(origin) : undefined, encoding);
      return;
    }
    // Attaches onAborted (uWS: before this handler returns).
    const sub = new SseSession(res, ip, deps, origin, encoding, head);
    pending.count++;
    const done = () => pending.count--;
    if (deps.auth === null) {
      sub.admit(request, null).then(done, done);
      return;
    }
    // The token is checked before admission's round trip to the primary: a refused client costs
    // one signature check and no slot.
    const carriers: TokenCarriers = { authorization, queryToken: request.queryToken, cookie };
    authorize(deps.auth.verifier, carriers, request.symbols, Date.now()).then(
      (grant) => sub.admit(request, grant).then(done, done),
      (err: unknown) => {
        done();
        sub.refused(err);
      },
    );
  };
}

/** Answer to a CORS preflight (`OPTIONS /quotes`). */
export function quotesPreflight(deps: Pick<QuotesRouteDeps, "corsOrigins" | "authFailures">): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    const origin = decideOrigin(req.getHeader("origin"), req.getHeader("host"), deps.corsOrigins);
    if (origin.kind === "allowed") respond(res, 204, "text/plain", "", { ...corsHeaders(origin), ...PREFLIGHT_HEADERS });
    else if (origin.kind === "no-cors") respond(res, 204, "text/plain", "", { Allow: "GET, OPTIONS" });
    else {
      deps.authFailures.origin_not_allowed++;
      respondError(res, new ForbiddenError("this origin may not subscribe: the server's --cors-origins does not list it"));
    }
  };
}

/**
 * The http side of one SSE connection, a session: from admission to its end, whichever way it
 * ends. Its fan-out side is the `Connection` it opens.
 */
class SseSession implements ExpiringStream {
  #gone = false;
  #holdsSlot = false;
  /** Symbols taken from the worker's subscription budget, given back when it ends. */
  #symbolsHeld = 0;
  #sink: UwsSink | null = null;
  #conn: Connection | null = null;

  constructor(
    private readonly res: HttpResponse,
    private readonly ip: string,
    private readonly deps: QuotesRouteDeps,
    private readonly origin: OriginDecision,
    private readonly encoding: Encoding,
    /** HEAD: answered with the headers a GET would get once the token is checked; no stream, no slot. */
    private readonly head = false,
  ) {
    // uWS rule: a response not ended inside its handler MUST have onAborted attached before the
    // handler returns, and must never be touched after it fires. Attached here, not in the route
    // handler: a closure there would share the handler's V8 context, which holds the parsed
    // request (query, symbol list, token carriers), and keep it alive as long as the stream
    // (~0.7 KB per idle connection, seen in a heap snapshot).
    res.onAborted(() => this.aborted());
  }

  /** Ask the primary for a slot, then open the stream (or answer why not). */
  admit(request: QuotesRequest, grant: Grant | null): Promise<void> {
    if (this.#gone) return Promise.resolve();
    if (this.head) {
      // The token was good: what a GET would be told, without a stream or a slot.
      this.#gone = true;
      this.#finish();
      headersOnly(this.res, this.#cors(), this.encoding);
      return Promise.resolve();
    }
    return this.deps.admission.admit(this.ip).then(
      (verdict) => this.admitted(verdict, request, grant),
      // Not reached with AdmissionClient, which never rejects (without a verdict it decides on
      // its share of the caps); a gate that rejects lets the client in, as before.
      () => this.admitted({ ok: true }, request, grant),
    );
  }

  /** Authentication or entitlement refused the subscription. */
  refused(err: unknown): void {
    if (err instanceof AuthFailure) this.deps.authFailures[err.reason]++;
    if (this.#gone) return;
    this.#gone = true;
    respondError(this.res, err instanceof AuthFailure ? authHttpError(err) : err, this.#cors());
  }

  /** Its token expired: end the stream; the client reconnects with a fresh token. */
  expire(): void {
    if (this.#gone || this.#conn === null || this.#conn.state === "closed") return;
    const conn = this.#conn;
    this.#gone = true;
    this.deps.fanout.remove(conn);
    this.#conn = null;
    // A comment says why to anyone reading the raw stream; a congested socket gets no more bytes.
    if (!conn.congested) conn.sink.write(": token expired\n\n");
    conn.sink.end();
    this.#finish();
  }

  #cors(): Record<string, string> | undefined {
    return this.origin.kind === "allowed" ? corsHeaders(this.origin) : undefined;
  }

  admitted(verdict: Verdict, request: QuotesRequest, grant: Grant | null): void {
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
      if (!deps.subscriptions.take(request.symbols.length)) throw overBudget(deps);
      this.#symbolsHeld = request.symbols.length;
    } catch (err) {
      this.#gone = true;
      this.#finish();
      respondError(res, err, this.#cors());
      return;
    }
    if (grant !== null && grant.expiresAtMs <= Date.now()) {
      // Expired while waiting for admission.
      this.#finish();
      this.refused(tokenFailure("expired"));
      return;
    }
    try {
      this.#open(request);
      if (grant !== null) deps.auth?.expiry.add(this, grant.expiresAtMs);
    } catch {
      // Past the headers nothing can be answered any more: drop the connection, keep serving.
      this.#sink?.close();
      this.#finish();
    }
  }

  #open(request: QuotesRequest): void {
    const deps = this.deps;
    const res = this.res;
    const uwsSink = (this.#sink = new UwsSink(res));
    const sink = this.encoding === "gzip" ? new GzipSink(uwsSink, deps.fanout.deflater) : uwsSink;
    // Outside the request handler now (after an await): cork, or each header is its own syscall.
    res.cork(() => {
      writeStreamHead(res, this.#cors(), this.encoding);
      // The first body write also flushes the headers, so the client sees 200 at once
      // even while its snapshot waits for the last values to load. (The sink's own cork runs
      // inside this one: uWS calls a nested cork's handler directly.)
      sink.write(retryField(RETRY_BASE_MS + Math.random() * RETRY_JITTER_MS));
    });
    const conn = (this.#conn = deps.fanout.open(request.symbols, request.intervalMs, request.lastEventId, sink, performance.now(), { delta: request.delta, maxKbps: request.maxKbps }));
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
    this.deps.auth?.expiry.remove(this);
    if (this.#conn !== null) {
      this.deps.fanout.remove(this.#conn);
      this.#conn = null;
    }
    if (this.#holdsSlot) {
      this.#holdsSlot = false;
      this.deps.admission.release(this.ip);
    }
    if (this.#symbolsHeld > 0) {
      this.deps.subscriptions.release(this.#symbolsHeld);
      this.#symbolsHeld = 0;
    }
  }
}

/**
 * HEAD /quotes: the status and headers of an admitted GET, and no body (so no Content-Length either;
 * the GET's framing header is kept).
 */
function headersOnly(res: HttpResponse, cors: Readonly<Record<string, string>> | undefined, encoding: Encoding): void {
  res.cork(() => {
    writeStreamHead(res, cors, encoding);
    res.writeHeader("Transfer-Encoding", "chunked");
    res.endWithoutBody();
  });
}

/** Status and headers of an SSE stream: the GET writes its body after them, HEAD ends there. */
function writeStreamHead(res: HttpResponse, cors: Readonly<Record<string, string>> | undefined, encoding: Encoding): void {
  res.writeStatus("200 OK");
  res.writeHeader("Content-Type", "text/event-stream");
  res.writeHeader("Cache-Control", "no-cache");
  res.writeHeader("X-Accel-Buffering", "no");
  if (encoding === "gzip") res.writeHeader("Content-Encoding", "gzip");
  // With compression on, the answer depends on Accept-Encoding whichever way it went.
  if (encoding !== "identity") res.writeHeader("Vary", "Accept-Encoding");
  if (cors !== undefined) for (const name in cors) res.writeHeader(name, cors[name]!);
}

function overBudget(deps: QuotesRouteDeps): ServiceUnavailableError {
  deps.rejected.subscription_budget++;
  const b = deps.subscriptions;
  return new ServiceUnavailableError(`this server process holds ${b.held} of its ${b.limit} symbol subscriptions (symbols x connections, --max-worker-subscriptions); retry later or subscribe to fewer symbols`, 5 + Math.floor(Math.random() * 10));
}
/** How a stream is sent: `identity-varying` is uncompressed on a server that compresses for others. */
type Encoding = "identity" | "identity-varying" | "gzip";

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
    case "subscription_budget":
      return "this server process is at its subscription budget; retry later";
  }
}
