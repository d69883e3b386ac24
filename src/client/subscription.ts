import { backoffDelay, parseRetryAfter, retryDelay, statusVerdict } from "./backoff.js";
import { ConnectionError, FrameError, HttpStatusError } from "./errors.js";
import { mergeQuotes, normalizeSymbols, parseQuotes, pruneQuotes } from "./merge.js";
import type { Quote, Status } from "./quote.js";
import { SseParser, type SseEvent } from "./sse-parser.js";

export interface StatusDetail {
  reason?: string;
  retryInMs?: number;
  url?: string;
}

export interface Handlers {
  /** After the map was updated with these quotes. */
  onQuotes?(quotes: readonly Quote[], kind: "snapshot" | "quotes"): void;
  onStatus?(status: Status, detail?: StatusDetail): void;
  /** now − quote.ts, for every quote of a `quotes` event (a snapshot holds last-known values, not news). */
  onLatency?(ms: number, quote: Quote): void;
  /** Non-fatal problems: a bad frame, an HTTP error answer, a lost connection. */
  onError?(err: Error): void;
}

export interface SubscribeOptions {
  /** Called before every (re)connect; sent as `Authorization: Bearer <token>`. */
  token?: () => string | Promise<string>;
  /** No byte (event or heartbeat) for this long → status "stale" and reconnect. Default 35000. */
  staleMs?: number;
  /** Exponential backoff with full jitter between these bounds. Defaults 250 / 15000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Resume from here on the first connect. */
  lastEventId?: string;
  /** Defaults to globalThis.fetch (Node 20 and browsers). */
  fetch?: typeof fetch;
}

export interface Subscription {
  /** Merged snapshot + quotes frames: the latest quote of each subscribed symbol. */
  readonly quotes: ReadonlyMap<string, Quote>;
  readonly status: Status;
  readonly lastEventId: string | undefined;
  /** Base URL currently connected or being tried. */
  readonly url: string | undefined;
  /** Keeps the quotes of kept symbols, drops removed ones, reconnects for the new list. */
  setSymbols(symbols: readonly string[]): void;
  close(): void;
}

const DEFAULT_STALE_MS = 35_000;
const DEFAULT_MIN_BACKOFF_MS = 250;
const DEFAULT_MAX_BACKOFF_MS = 15_000;

/** How one connection attempt ended. */
type Outcome =
  | { kind: "retry"; reason: string; retryAfterMs?: number }
  | { kind: "again"; reason: string } // our own doing (symbols changed): reconnect at once
  | { kind: "fatal"; reason: string }
  | { kind: "closed" };

type Timer = ReturnType<typeof setTimeout>;

/**
 * Subscribe to live quotes. `url` is a base URL (`http://host:8080`) or several, tried in turn
 * (failover between nodes). Requests `${base}/quotes?symbols=...` with a fetch-based SSE reader,
 * which, unlike EventSource, can send headers and retries after the 503 answers EventSource
 * treats as fatal.
 */
export function subscribe(url: string | readonly string[], symbols: readonly string[], handlers: Handlers = {}, options: SubscribeOptions = {}): Subscription {
  return new LiveSubscription(typeof url === "string" ? [url] : [...url], symbols, handlers, options);
}

class LiveSubscription implements Subscription {
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
  /** Symbols were added: the next connect must get a full snapshot, not a resume. */
  #needFullSnapshot = false;
  #controller: AbortController | undefined;
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
    private readonly options: SubscribeOptions,
  ) {
    if (urls.length === 0) throw new TypeError("subscribe: at least one base URL is needed");
    this.#urls = urls.map((u) => u.replace(/\/+$/, ""));
    this.#symbols = normalizeSymbols(symbols);
    this.#wanted = new Set(this.#symbols);
    this.#lastEventId = options.lastEventId;
    this.#staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.#minBackoffMs = options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS;
    this.#maxBackoffMs = Math.max(this.#minBackoffMs, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("subscribe: no fetch available; pass options.fetch");
    // A bare reference to window.fetch called as a method of another object throws "Illegal invocation".
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#parser = new SseParser({
      event: (e) => this.#onEvent(e),
      retry: (ms) => (this.#serverRetryMs = ms),
      comment: () => undefined, // a heartbeat: its bytes already counted as activity
    });
    // Start after subscribe() returns, so that handlers may already refer to the subscription.
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

  setSymbols(symbols: readonly string[]): void {
    if (this.#closed) return;
    const next = normalizeSymbols(symbols);
    const wanted = new Set(next);
    const added = next.some((s) => !this.#wanted.has(s));
    const same = !added && next.length === this.#symbols.length;
    this.#symbols = next;
    this.#wanted = wanted;
    pruneQuotes(this.#map, wanted);
    if (same) return;
    // A resume only brings what changed since the id: a new symbol that did not change would be missing.
    if (added) this.#needFullSnapshot = true;
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
    this.#wakeUp();
    this.#clearWatchdog();
    this.#setStatus("closed");
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

  async #connectOnce(): Promise<Outcome> {
    const base = this.#urls[this.#urlIndex]!;
    const controller = new AbortController();
    this.#controller = controller;
    this.#abortReason = undefined;
    this.#parser.reset();
    // The watchdog also covers a server that accepts the connection and never answers.
    this.#touch();
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      const resumeId = this.#needFullSnapshot ? undefined : this.#lastEventId;
      if (resumeId !== undefined) headers["Last-Event-ID"] = resumeId;
      if (this.options.token) {
        try {
          headers.Authorization = "Bearer " + (await this.options.token());
        } catch (cause) {
          this.#report(new ConnectionError("the token callback failed", { cause }));
          return this.#ended(controller, { kind: "retry", reason: "token callback failed" }, false);
        }
      }
      const query = this.#symbols.map(encodeURIComponent).join(",");
      let res: Response;
      try {
        res = await this.#fetch(`${base}/quotes?symbols=${query}`, { headers, signal: controller.signal });
      } catch (cause) {
        return this.#ended(controller, { kind: "retry", reason: "cannot connect: " + describe(cause) });
      }
      if (res.status !== 200) return this.#ended(controller, await this.#httpError(res, base), false);
      const type = res.headers.get("content-type") ?? "";
      if (!type.startsWith("text/event-stream") || res.body === null) {
        void res.body?.cancel().catch(() => undefined);
        this.#report(new HttpStatusError(200, `expected text/event-stream, got ${type || "no content type"}`, base));
        return this.#ended(controller, { kind: "retry", reason: "not an event stream" }, false);
      }
      const reader = res.body.getReader();
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
        return this.#ended(controller, { kind: "retry", reason: "connection lost: " + describe(cause) });
      }
      return this.#ended(controller, { kind: "retry", reason: "stream ended by the server" });
    } finally {
      this.#clearWatchdog();
      if (this.#controller === controller) this.#controller = undefined;
      // Release the socket whatever happened (a no-op when the body was read to its end).
      controller.abort();
    }
  }

  /**
   * The outcome, unless we ended the connection ourselves, which says why better. A lost connection
   * is reported through onError here unless `report` is false (the caller reported it already).
   */
  #ended(controller: AbortController, outcome: Outcome, report = true): Outcome {
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
    if (e.event !== "snapshot" && e.event !== "quotes") return;
    let quotes: Quote[];
    try {
      const parsed = parseQuotes(e.data);
      quotes = parsed.quotes;
      if (parsed.rejected > 0) this.#report(new FrameError(`${parsed.rejected} element(s) of a ${e.event} event are not quotes`));
    } catch (err) {
      this.#report(err as Error);
      return;
    }
    const applied = mergeQuotes(this.#map, quotes, this.#wanted);
    if (e.id !== undefined) this.#lastEventId = e.id;
    if (e.event === "snapshot") {
      this.#needFullSnapshot = false;
      this.#attempt = 0;
      this.#setStatus("live", { url: this.url });
      this.#call(() => this.handlers.onQuotes?.(applied, "snapshot"));
      return;
    }
    this.#call(() => this.handlers.onQuotes?.(applied, "quotes"));
    const onLatency = this.handlers.onLatency;
    if (onLatency) {
      const now = Date.now();
      for (const q of applied) this.#call(() => onLatency(now - q.ts, q));
    }
  }

  /** Bytes arrived: push the stale deadline out. */
  #touch(): void {
    this.#lastActivity = Date.now();
    // One timer per subscription, re-armed only when it fires: no timer churn per chunk.
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
