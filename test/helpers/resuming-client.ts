import { waitFor } from "./quotecast.js";
import { RawSseClient, type Quote } from "./sse-client.js";

/**
 * An SSE client that keeps state the way a trading frontend does: a map of the latest quote per
 * symbol, merged from snapshots and quotes events. When its connection ends (node killed, drained,
 * refused with 503, unreachable) it waits (the server's `retry:` if it sent one), then connects to
 * the next port of its list with `Last-Event-ID`, so the snapshot it gets holds exactly what it missed.
 */
export class ResumingClient {
  readonly state = new Map<string, Quote>();
  lastId: string | undefined;
  /** Quotes received that were older than the one the client already had: stale data shown. */
  backwards = 0;
  /** Every connection attempt: which port, when, and the HTTP status (0: no answer). */
  readonly attempts: { port: number; at: number; status: number }[] = [];
  /** Date.now() of every snapshot received after the first connection. */
  readonly resumedAt: number[] = [];
  #conn: RawSseClient | null = null;
  #seen = 0;
  #index: number;
  #closed = false;
  #retryAt = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly ports: readonly number[],
    readonly symbols: readonly string[],
    first = 0,
  ) {
    this.#index = first;
    this.#open();
    // Polled rather than evented: RawSseClient only collects; 10 ms is well inside any bound here.
    this.#timer = setInterval(() => this.#poll(), 10);
  }

  get port(): number {
    return this.ports[this.#index % this.ports.length]!;
  }

  /** Connected and streaming right now. */
  get streaming(): boolean {
    return this.#conn !== null && this.#conn.status === 200 && !this.#conn.closed;
  }

  /** True when the client's map holds exactly `expected` for each of its symbols (same seq and ts). */
  matches(expected: ReadonlyMap<string, Quote>): boolean {
    for (const sym of this.symbols) {
      const want = expected.get(sym);
      const have = this.state.get(sym);
      if (want === undefined ? have !== undefined : have?.seq !== want.seq || have.ts !== want.ts) return false;
    }
    return true;
  }

  /** Symbols whose value differs from `expected`, for failure messages. */
  diff(expected: ReadonlyMap<string, Quote>): string[] {
    return this.symbols.filter((sym) => this.state.get(sym)?.seq !== expected.get(sym)?.seq).map((sym) => `${sym}: have ${this.state.get(sym)?.seq} want ${expected.get(sym)?.seq}`);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#conn?.close();
  }

  #open(): void {
    this.#seen = 0;
    const headers: Record<string, string> = this.lastId === undefined ? {} : { "Last-Event-ID": this.lastId };
    this.#conn = RawSseClient.open(this.port, `/quotes?symbols=${this.symbols.join(",")}`, headers);
    this.attempts.push({ port: this.port, at: Date.now(), status: 0 });
  }

  #poll(): void {
    const c = this.#conn;
    if (this.#closed || c === null) {
      if (!this.#closed && Date.now() >= this.#retryAt) this.#open();
      return;
    }
    this.attempts.at(-1)!.status = c.status;
    for (; this.#seen < c.events.length; this.#seen++) {
      const e = c.events[this.#seen]!;
      if (e.event !== "snapshot" && e.event !== "quotes") continue;
      if (e.event === "snapshot" && this.attempts.length > 1) this.resumedAt.push(e.at);
      for (const q of JSON.parse(e.data) as Quote[]) {
        const had = this.state.get(q.sym);
        if (had !== undefined && q.seq < had.seq) this.backwards++;
        this.state.set(q.sym, q);
      }
      if (e.id !== undefined) this.lastId = e.id;
    }
    if (c.closed) {
      // The next node in the list, after the server's retry: hint (drain) or a short pause.
      const retry = c.retries.at(-1) ?? 200 + Math.random() * 200;
      this.#retryAt = Date.now() + retry;
      this.#index++;
      this.#conn = null;
    }
  }
}

/**
 * Wait until every client holds exactly `expected`; a timeout names what each one lacks, then
 * whatever `context` adds (the nodes' logs, say).
 */
export async function waitAllHold(clients: readonly ResumingClient[], expected: ReadonlyMap<string, Quote>, timeoutMs: number, context?: () => string): Promise<void> {
  await waitFor(() => clients.every((c) => c.matches(expected)), timeoutMs, "every client to hold the latest quotes").catch((err: Error) => {
    throw new Error(`${err.message}: ${clients.map((c) => c.diff(expected).join(" ")).filter(Boolean).join(" | ")}${context ? `\n${context()}` : ""}`);
  });
}
