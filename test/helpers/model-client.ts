// The client side of the fan-out model tests (test/fanout-model.test.ts,
// test/fanout-budget-model.test.ts): what a connection holds after each whole event it receives,
// and the rules every event must keep. Each test's sink decodes its own writes (plain or gzip)
// and hands whole events to `receive`.
import { isDeepStrictEqual } from "node:util";
import type { LastValues } from "../../src/ingest/last-values.js";

export type ModelQuote = Record<string, unknown> & { sym: string; seq: number };

export class ModelClient {
  /** Latest stream seq seen per symbol. */
  readonly held = new Map<string, number>();
  /** What the client holds of each symbol: snapshots and quotes replace, deltas merge. */
  readonly state = new Map<string, Record<string, unknown>>();
  readonly problems: string[] = [];
  /** The last event id received (what a reconnect sends back). */
  lastId: string | undefined;
  lastQuotesAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly symbols: readonly string[],
    readonly intervalMs: number,
    readonly clock: { now: number },
    readonly delta = false,
  ) {}

  /**
   * One whole `id:`/`event:`/`data:` event. Checks: the event's kind, no empty quotes event, no
   * two quotes events closer than the interval, only subscribed symbols, each at most once per
   * event, and never a seq the client already has or an older one.
   */
  receive(text: string): void {
    const [idLine, eventLine, dataLine] = text.split("\n");
    this.lastId = idLine!.slice("id: ".length);
    const event = eventLine!.slice("event: ".length);
    const objects = JSON.parse(dataLine!.slice("data: ".length)) as ModelQuote[];
    if (event !== "snapshot" && event !== (this.delta ? "delta" : "quotes")) this.problems.push(`${this.name}: event ${event}`);
    const quotes: ModelQuote[] = [];
    for (const o of objects) {
      let q: Record<string, unknown> = o;
      if (event === "delta") {
        q = { ...this.state.get(o.sym) };
        for (const [k, v] of Object.entries(o)) {
          if (v === null) delete q[k];
          else q[k] = v;
        }
      }
      this.state.set(o.sym, q);
      quotes.push(q as ModelQuote);
    }
    if (event !== "snapshot") {
      if (quotes.length === 0) this.problems.push(`${this.name}: empty quotes event`);
      const gap = this.clock.now - this.lastQuotesAt;
      if (gap < this.intervalMs) this.problems.push(`${this.name}: quotes events ${gap} ms apart, interval ${this.intervalMs}`);
      this.lastQuotesAt = this.clock.now;
    }
    const inEvent = new Set<string>();
    for (const q of quotes) {
      if (!this.symbols.includes(q.sym)) this.problems.push(`${this.name}: got ${q.sym}, not subscribed`);
      if (inEvent.has(q.sym)) this.problems.push(`${this.name}: ${q.sym} twice in one event`);
      inEvent.add(q.sym);
      const had = this.held.get(q.sym) ?? 0;
      if (q.seq <= had) this.problems.push(`${this.name}: ${q.sym} seq ${q.seq} after ${had} (${event})`);
      this.held.set(q.sym, q.seq);
    }
  }

  /** Where this client's end state differs from the latest values: seq and, merged, the whole quote. */
  finalProblems(values: LastValues): string[] {
    const problems: string[] = [];
    for (const sym of this.symbols) {
      const latest = values.get(sym);
      const want = latest?.streamSeq;
      if (this.held.get(sym) !== want) problems.push(`${this.name}: ends with ${sym} at ${this.held.get(sym)}, latest is ${want}`);
      const wantQuote = latest === undefined ? undefined : JSON.parse(latest.json);
      if (!isDeepStrictEqual(this.state.get(sym), wantQuote)) problems.push(`${this.name}: ends holding ${JSON.stringify(this.state.get(sym))}, latest is ${latest?.json}`);
    }
    return problems;
  }
}
