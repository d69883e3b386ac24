import { backoffDelay, parseRetryAfter, retryDelay, statusVerdict } from "./backoff.js";
import { ConnectionError, FrameError, HttpStatusError } from "./errors.js";
import { applyDelta, normalizeSymbols, parseDeltas, parseQuotes, sameQuote } from "./merge.js";
import type { Quote, Status, StatusDetail } from "./quote.js";
import { SseParser, type SseEvent } from "./sse-parser.js";

/** Callbacks of `subscribe()`. A handler that throws is reported through `onError`; the stream goes on. */
export interface Handlers {
  /** After `quotes` was updated with these quotes (full quotes, deltas already merged). */
  onQuotes?(quotes: readonly Quote[], kind: "snapshot" | "quotes"): void;
  /** Every status change, with the reason and, when reconnecting, the delay. */
  onStatus?(status: Status, detail?: StatusDetail): void;
  /** now − quote.ts, for every quote of an update event; not for snapshot quotes (they hold last-known values, not news). */
  onLatency?(ms: number, quote: Quote): void;
  /** Non-fatal problems: a bad frame, an HTTP error answer, a lost connection. */
  onError?(err: Error): void;
}

/** Options of the connection, shared by `subscribe()` and `createClient()`. */
export interface ConnectionOptions {
  /**
   * Called before every (re)connect; its token is sent as `Authorization: Bearer <token>`. With a
   * callback, a `401` is retried (with a fresh token); without one, `401` closes. Default: none.
   */
  token?: () => string | Promise<string>;
  /** No byte (event or heartbeat) for this long: status `stale`, and a reconnect. Default 35000 ms. */
  staleMs?: number;
  /** Lower bound of the reconnect backoff (exponential, full jitter). Default 250 ms. */
  minBackoffMs?: number;
  /** Upper bound of the reconnect backoff. Default 15000 ms. A server's `Retry-After` or `retry:` may ask for longer. */
  maxBackoffMs?: number;
  /** Resume from this event id on the first connect. Default: none (a full snapshot). */
  lastEventId?: string;
  /** The fetch to use. Default `globalThis.fetch` (browsers and Node 20). */
  fetch?: typeof fetch;
  /**
   * Ask for field deltas (`delta=1`): updates carry only the fields that changed, merged here into
   * new quote objects. A server that does not know `delta=1` sends full quotes, also handled.
   * Default true.
   */
  delta?: boolean;
}

/** The options of `subscribe()` (the name it had before the client became a package of its own). */
export type SubscribeOptions = ConnectionOptions;

/** The low-level stream returned by `subscribe()`: one SSE connection for one symbol list. */
export interface Subscription {
  /** The latest quote of each subscribed symbol. Each update replaces the symbol's quote object. */
  readonly quotes: ReadonlyMap<string, Quote>;
  readonly status: Status;
  /** The id of the last event received; sent back as `Last-Event-ID` on a reconnect. */
  readonly lastEventId: string | undefined;
  /** Base URL currently connected or being tried; undefined once closed. */
  readonly url: string | undefined;
  /** Keeps the quotes of kept symbols, drops removed ones, re-opens with `Last-Event-ID` for the new list. */
  setSymbols(symbols: readonly string[]): void;
  close(): void;
}

const DEFAULT_STALE_MS = 35_000;
const DEFAULT_MIN_BACKOFF_MS = 250;
const DEFAULT_MAX_BACKOFF_MS = 15_000;
/** A fill (the snapshot of added symbols) that has not answered in this long has failed. */
const FILL_TIMEOUT_MS = 10_000;

/** How one connection attempt ended. */
type Outcome =
  | { kind: "retry"; reason: string; retryAfterMs?: number }
  | { kind: "again"; reason: string } // our own doing (symbols changed): reconnect at once
  | { kind: "fatal"; reason: string }
  | { kind: "closed" };

type Timer = ReturnType<typeof setTimeout>;

/**
 * Subscribe to live quotes on a connection of its own. `url` is a base URL (`http://host:8080`) or
 * several, tried in turn (failover between nodes). Low level: an app with several widgets or tabs
 * wants `createClient()`, which shares one connection between them.
 */
export function subscribe(url: string | readonly string[], symbols: readonly string[], handlers: Handlers = {}, options: ConnectionOptions = {}): Subscription {
  return new Connection(typeof url === "string" ? [url] : [...url], symbols, handlers, options);
}

/**
 * One SSE connection read with fetch, which, unlike EventSource, can send headers and retries after
 * the 503 answers EventSource treats as fatal.
 */
export class Connection implements Subscription {
  readonly #map = new Map<string, Quote>();
  #symbols: string[];
  #wanted: Set<string>;
  #status: Status = "connecting";
  #lastEventId: string | undefined;
  readonly #urls: string[];
  #urlIndex = 0;
  #attempt = 0;
  /** The stream's last `retry:` value: the server's lower bound on our reconnect delay. */
  #serverRetryMs: number | undefined;
  /** A resume cannot be trusted (a fill failed): the next connect asks for a full snapshot. */
  #needFullSnapshot = false;
  /** The current connection was opened with a resume id: its snapshot holds only what changed. */
  #resumed = false;
  #controller: AbortController | undefined;
  /** Counts connection attempts: a fill that outlives its connection must not act on the next. */
  #generation = 0;
  #fillController: AbortController | undefined;
  /** Why we aborted the current connection ourselves, if we did. */
  #abortReason: "stale" | "symbols" | "close" | undefined;
  #watchdog: Timer | undefined;
  #lastActivity = 0;
  #delay: { timer: Timer; resolve: () => void } | undefined;
  /** Waiting for symbols (none subscribed), as opposed to waiting out a backoff. */
  #idle = false;
  #closed = false;
  readonly #parser: SseParser;
  readonly #fetch: typeof fetch;
  readonly #staleMs: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;

  constructor(
    urls: string[],
    symbols: readonly string[],
    private readonly handlers: Handlers,
    private readonly options: ConnectionOptions,
    /** Quotes already held (a tab taking over the shared connection): a resume by `lastEventId` builds on them. */
    seed?: Iterable<Quote>,
  ) {
    if (urls.length === 0) throw new TypeError("quotecast client: at least one base URL is needed");
    this.#urls = urls.map((u) => u.replace(/\/+$/, ""));
    this.#symbols = normalizeSymbols(symbols);
    this.#wanted = new Set(this.#symbols);
    if (seed) for (const q of seed) if (this.#wanted.has(q.sym)) this.#map.set(q.sym, q);
    this.#lastEventId = options.lastEventId;
    this.#staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.#minBackoffMs = options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS;
    this.#maxBackoffMs = Math.max(this.#minBackoffMs, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    if (typeof (options.fetch ?? globalThis.fetch) !== "function") throw new TypeError("quotecast client: no fetch available; pass options.fetch");
    // A bare reference to window.fetch called as a method of another object throws "Illegal invocation".
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#parser = new SseParser({
      event: (e) => this.#onEvent(e),
      retry: (ms) => (this.#serverRetryMs = ms),
      comment: () => undefined, // a heartbeat: its bytes already counted as activity
    });
    // Start after the constructor returns, so that handlers may already refer to the subscription.
    queueMicrotask(() => void this.#run());
  }

  get quotes(): ReadonlyMap<string, Quote> {
    return this.#map;
  }
  get status(): Status {
    return this.#status;
  }
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }
  get url(): string | undefined {
    return this.#closed ? undefined : this.#urls[this.#urlIndex];
  }
  /** When the last byte arrived (ms since the epoch); 0 before any. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  setSymbols(symbols: readonly string[]): void {
    if (this.#closed) return;
    const next = normalizeSymbols(symbols);
    const same = next.length === this.#symbols.length && next.every((s) => this.#wanted.has(s));
    this.#symbols = next;
    this.#wanted = new Set(next);
    for (const sym of this.#map.keys()) if (!this.#wanted.has(sym)) this.#map.delete(sym);
    if (same) return;
    // Re-open with the last event id: held symbols resume, added ones are filled (see #fill).
    if (this.#controller) {
      this.#abortReason = "symbols";
      this.#controller.abort();
    } else if (this.#idle) {
      // A backoff is not cut short: it may be a server's Retry-After.
      this.#wakeUp();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abortReason = "close";
    this.#controller?.abort();
    this.#fillController?.abort();
    this.#wakeUp();
    this.#clearWatchdog();
    this.#setStatus("closed", { reason: "closed by the app" });
  }

  async #run(): Promise<void> {
    let first = true;
    while (!this.#closed) {
      if (this.#symbols.length === 0) {
        // Nothing to subscribe to: the (empty) map is trivially current; wait for setSymbols.
        this.#setStatus("live", { reason: "no symbols" });
        this.#idle = true;
        await this.#sleep(Number.MAX_SAFE_INTEGER);
        this.#idle = false;
        continue;
      }
      if (first) this.#setStatus("connecting", { url: this.url }, true);
      first = false;
      const outcome = await this.#connectOnce();
      if (outcome.kind === "closed") return;
      if (outcome.kind === "fatal") {
        this.#closed = true;
        this.#clearWatchdog();
        this.#setStatus("closed", { reason: outcome.reason, url: this.url });
        return;
      }
      if (outcome.kind === "again") {
        this.#setStatus("connecting", { reason: outcome.reason, url: this.url });
        continue;
      }
      const backoff = backoffDelay(this.#attempt++, this.#minBackoffMs, this.#maxBackoffMs, Math.random());
      const delay = retryDelay(backoff, [outcome.retryAfterMs, this.#serverRetryMs]);
      // Failover: the next attempt goes to the next node.
      this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
      this.#setStatus("reconnecting", { reason: outcome.reason, retryInMs: delay, url: this.url });
      await this.#sleep(delay);
    }
  }

  /** Open `/quotes` for `symbols`: the response of a 200 event stream, or how the attempt ended. */
  async #open(base: string, symbols: readonly string[], resumeId: string | undefined, signal: AbortSignal): Promise<Response | Outcome> {
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (resumeId !== undefined) headers["Last-Event-ID"] = resumeId;
    if (this.options.token) {
      try {
        headers.Authorization = "Bearer " + (await this.options.token());
      } catch (cause) {
        this.#report(new ConnectionError("the token callback failed", { cause }));
        return { kind: "retry", reason: "token callback failed" };
      }
    }
    const query = symbols.map(encodeURIComponent).join(",") + (this.options.delta === false ? "" : "&delta=1");
    let res: Response;
    try {
      res = await this.#fetch(`${base}/quotes?symbols=${query}`, { headers, signal });
    } catch (cause) {
      const reason = "cannot connect: " + describe(cause);
      if (!signal.aborted) this.#report(new ConnectionError(reason));
      return { kind: "retry", reason };
    }
    if (res.status !== 200) return this.#httpError(res, base);
    const type = res.headers.get("content-type") ?? "";
    if (!type.startsWith("text/event-stream") || res.body === null) {
      void res.body?.cancel().catch(() => undefined);
      this.#report(new HttpStatusError(200, `expected text/event-stream, got ${type || "no content type"}`, base));
      return { kind: "retry", reason: "not an event stream" };
    }
    return res;
  }

  async #connectOnce(): Promise<Outcome> {
    const base = this.#urls[this.#urlIndex]!;
    const controller = new AbortController();
    this.#controller = controller;
    this.#generation++;
    this.#abortReason = undefined;
    this.#parser.reset();
    // The watchdog also covers a server that accepts the connection and never answers.
    this.#touch();
    try {
      const resumeId = this.#needFullSnapshot ? undefined : this.#lastEventId;
      this.#resumed = resumeId !== undefined;
      const res = await this.#open(base, this.#symbols, resumeId, controller.signal);
      if (!(res instanceof Response)) return this.#ended(controller, res);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.#touch();
          this.#parser.push(decoder.decode(value, { stream: true }));
          if (this.#closed) break;
        }
      } catch (cause) {
        return this.#ended(controller, { kind: "retry", reason: "connection lost: " + describe(cause) }, true);
      }
      return this.#ended(controller, { kind: "retry", reason: "stream ended by the server" }, true);
    } finally {
      this.#clearWatchdog();
      if (this.#controller === controller) this.#controller = undefined;
      this.#fillController?.abort();
      // Release the socket whatever happened (a no-op when the body was read to its end).
      controller.abort();
    }
  }

  /**
   * The outcome, unless we ended the connection ourselves, which says why better. A lost connection
   * is reported through onError when `report` is set.
   */
  #ended(controller: AbortController, outcome: Outcome, report = false): Outcome {
    if (!controller.signal.aborted || this.#abortReason === undefined) {
      if (report && outcome.kind === "retry") this.#report(new ConnectionError(outcome.reason));
      return outcome;
    }
    switch (this.#abortReason) {
      case "close":
        return { kind: "closed" };
      case "symbols":
        return { kind: "again", reason: "symbols changed" };
      case "stale":
        return { kind: "retry", reason: `no event or heartbeat for ${this.#staleMs} ms` };
    }
  }

  async #httpError(res: Response, base: string): Promise<Outcome> {
    let message = `HTTP ${res.status}`;
    try {
      const body = (await res.text()).slice(0, 1000);
      const parsed: unknown = JSON.parse(body);
      const error = (parsed as { error?: unknown } | null)?.error;
      if (typeof error === "string") message = `HTTP ${res.status}: ${error}`;
    } catch {
      // No JSON body: the status says enough.
    }
    this.#report(new HttpStatusError(res.status, message, base));
    const verdict = statusVerdict(res.status, this.options.token !== undefined);
    if (verdict === "fatal") return { kind: "fatal", reason: message };
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), Date.now());
    return retryAfterMs === undefined ? { kind: "retry", reason: message } : { kind: "retry", reason: message, retryAfterMs };
  }

  #onEvent(e: SseEvent): void {
    const kind = e.event;
    if (kind !== "snapshot" && kind !== "quotes" && kind !== "delta") return;
    const applied: Quote[] = [];
    try {
      if (kind === "delta") {
        const { deltas, rejected } = parseDeltas(e.data);
        if (rejected > 0) this.#report(new FrameError(`${rejected} element(s) of a delta event have no sym`));
        for (const d of deltas) {
          if (!this.#wanted.has(d.sym)) continue;
          // Merged over the value held: a new object, the old one is never touched.
          const q = applyDelta(this.#map.get(d.sym), d);
          if (q === undefined) this.#report(new FrameError(`a delta for ${d.sym} does not make a quote (no ts or seq)`));
          else this.#apply(q, applied);
        }
      } else {
        const { quotes, rejected } = parseQuotes(e.data);
        if (rejected > 0) this.#report(new FrameError(`${rejected} element(s) of a ${kind} event are not quotes`));
        for (const q of quotes) if (this.#wanted.has(q.sym)) this.#apply(q, applied);
      }
    } catch (err) {
      this.#report(err as Error);
      return;
    }
    if (e.id !== undefined) this.#lastEventId = e.id;
    if (kind === "snapshot") {
      this.#needFullSnapshot = false;
      this.#attempt = 0;
      this.#setStatus("live", { url: this.url });
      this.#call(() => this.handlers.onQuotes?.(applied, "snapshot"));
      // A resume brings only what changed since the id: symbols added since, if quiet, are missing.
      if (this.#resumed) {
        const holes = this.#symbols.filter((s) => !this.#map.has(s));
        if (holes.length > 0) void this.#fill(this.#urls[this.#urlIndex]!, holes);
      }
      return;
    }
    if (applied.length === 0) return;
    this.#call(() => this.handlers.onQuotes?.(applied, "quotes"));
    const onLatency = this.handlers.onLatency;
    if (onLatency) {
      const now = Date.now();
      for (const q of applied) this.#call(() => onLatency(now - q.ts, q));
    }
  }

  /** Hold `q` unless it is the very quote held already (a resume or fill sending it again). */
  #apply(q: Quote, applied: Quote[]): void {
    if (sameQuote(this.#map.get(q.sym), q)) return;
    this.#map.set(q.sym, q);
    applied.push(q);
  }

  /**
   * The latest value of symbols a resume did not bring (added while the stream ran, unchanged since
   * the id): one short request without an id, read to its snapshot and closed. Only holes are
   * filled; anything the main stream brings meanwhile is newer and wins. If it fails, the next
   * connect asks for a full snapshot instead, so no symbol stays empty.
   */
  async #fill(base: string, holes: readonly string[]): Promise<void> {
    this.#fillController?.abort();
    const generation = this.#generation;
    const controller = (this.#fillController = new AbortController());
    const timer = setTimeout(() => controller.abort(), FILL_TIMEOUT_MS);
    let snapshot: Quote[] | undefined;
    try {
      const res = await this.#open(base, holes, undefined, controller.signal);
      if (res instanceof Response) {
        const parser = new SseParser({
          event: (e) => {
            if (e.event === "snapshot" && snapshot === undefined) snapshot = parseQuotes(e.data).quotes;
          },
          retry: () => undefined,
          comment: () => undefined,
        });
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        while (snapshot === undefined) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.push(decoder.decode(value, { stream: true }));
        }
      }
    } catch {
      // Aborted or lost: snapshot stays undefined.
    } finally {
      clearTimeout(timer);
      controller.abort();
      if (this.#fillController === controller) this.#fillController = undefined;
    }
    // The main stream ended meanwhile: its reconnect resumes and fills again.
    if (this.#closed || generation !== this.#generation || this.#controller === undefined) return;
    if (this.#fillController !== undefined) return; // a newer fill took over

    if (snapshot === undefined) {
      this.#needFullSnapshot = true;
      this.#abortReason = "symbols";
      this.#controller.abort();
      return;
    }
    const applied: Quote[] = [];
    for (const q of snapshot) if (this.#wanted.has(q.sym) && !this.#map.has(q.sym)) this.#apply(q, applied);
    if (applied.length > 0) this.#call(() => this.handlers.onQuotes?.(applied, "snapshot"));
  }

  /** Bytes arrived: push the stale deadline out. */
  #touch(): void {
    this.#lastActivity = Date.now();
    // One timer per connection, re-armed only when it fires: no timer churn per chunk.
    if (this.#watchdog === undefined) this.#armWatchdog(this.#staleMs);
  }

  #armWatchdog(ms: number): void {
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const idle = Date.now() - this.#lastActivity;
      if (idle < this.#staleMs) return this.#armWatchdog(this.#staleMs - idle);
      if (!this.#controller || this.#closed) return;
      this.#setStatus("stale", { reason: `no event or heartbeat for ${idle} ms`, url: this.url });
      this.#abortReason = "stale";
      this.#controller.abort();
    }, ms);
  }

  #clearWatchdog(): void {
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      // setTimeout's limit is 2^31-1 ms; beyond it fires at once.
      const timer = setTimeout(() => {
        this.#delay = undefined;
        resolve();
      }, Math.min(ms, 2_147_483_647));
      this.#delay = { timer, resolve };
    });
  }

  #wakeUp(): void {
    const d = this.#delay;
    if (!d) return;
    this.#delay = undefined;
    clearTimeout(d.timer);
    d.resolve();
  }

  #setStatus(status: Status, detail?: StatusDetail, always = false): void {
    if (this.#status === status && status !== "reconnecting" && !always) return;
    this.#status = status;
    this.#call(() => this.handlers.onStatus?.(status, detail));
  }

  #report(err: Error): void {
    const onError = this.handlers.onError;
    if (!onError) return;
    try {
      onError(err);
    } catch {
      // A throwing error handler must not stop the subscription.
    }
  }

  /** A throwing user handler is reported, never allowed to break the stream. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    // Node's fetch hides the real reason (ECONNREFUSED, "other side closed") in `cause`.
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
