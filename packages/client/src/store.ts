import type { Quote, Status } from "./quote.js";

/**
 * An immutable view of one subscription: a new object on every change, in which each changed
 * symbol's quote is a new object and every other quote is the same object as before. So
 * `Object.is` tells what changed, as React, Vue's `shallowRef` and Svelte expect.
 */
export interface QuoteSnapshot {
  /** The latest quote of each of the subscription's symbols that has one. */
  readonly quotes: Readonly<Record<string, Quote>>;
  /** The shared connection's status. */
  readonly status: Status;
  /** Why the status is what it is (the server's error message, "connection lost: ..."); undefined when live. */
  readonly reason: string | undefined;
  /**
   * Per symbol, when its value was last known current (ms since the epoch): while `status` is
   * `live` every value is current, and this is its last update or the last (re)connect; after the
   * stream is lost it is the last moment the stream was heard. Grey out what is too old to vouch for.
   */
  readonly confirmedAt: Readonly<Record<string, number>>;
}

/** A store of one symbol's quote, for a row that re-renders only when its own symbol changes. */
export interface SymbolStore {
  /** The symbol's latest quote (the same object until it changes), or undefined before its first. */
  getSnapshot(): Quote | undefined;
  /** Calls `listener` at once with the current quote, then on every change of this symbol. Returns the unsubscribe function. */
  subscribe(listener: (quote: Quote | undefined) => void): () => void;
}

/** What the client tells a store: changes of quotes (at most one call per incoming event) and of status. */
export interface StoreUpdate {
  readonly quotes?: readonly Quote[];
  readonly status?: { status: Status; reason: string | undefined };
  /** Symbols whose value was (re)confirmed at `at`, without a new quote. */
  readonly confirmed?: readonly string[];
  readonly at: number;
}

/**
 * The store of one subscription. Framework-free: `getSnapshot` + `subscribe` is what React's
 * `useSyncExternalStore` takes; `subscribe` calling the listener at once with the value and
 * returning the unsubscribe function is Svelte's store contract.
 */
export class Store {
  readonly symbols: readonly string[];
  readonly #wanted: ReadonlySet<string>;
  #snapshot: QuoteSnapshot;
  readonly #listeners = new Set<(s: QuoteSnapshot) => void>();
  readonly #symbolListeners = new Map<string, Set<(q: Quote | undefined) => void>>();
  readonly #report: (err: Error) => void;

  constructor(symbols: readonly string[], initial: QuoteSnapshot, report: (err: Error) => void) {
    this.symbols = Object.freeze([...symbols]);
    this.#wanted = new Set(symbols);
    this.#report = report;
    const quotes: Record<string, Quote> = {};
    const confirmedAt: Record<string, number> = {};
    for (const s of symbols) {
      const q = initial.quotes[s];
      if (q !== undefined) quotes[s] = q;
      const c = initial.confirmedAt[s];
      if (c !== undefined) confirmedAt[s] = c;
    }
    this.#snapshot = Object.freeze({ quotes: Object.freeze(quotes), status: initial.status, reason: initial.reason, confirmedAt: Object.freeze(confirmedAt) });
  }

  has(sym: string): boolean {
    return this.#wanted.has(sym);
  }

  getSnapshot = (): QuoteSnapshot => this.#snapshot;

  subscribe = (listener: (snapshot: QuoteSnapshot) => void): (() => void) => {
    this.#listeners.add(listener);
    this.#safely(() => listener(this.#snapshot));
    return () => void this.#listeners.delete(listener);
  };

  select(sym: string): SymbolStore {
    const symbol = sym.trim().toUpperCase();
    return {
      getSnapshot: () => this.#snapshot.quotes[symbol],
      subscribe: (listener) => {
        let set = this.#symbolListeners.get(symbol);
        if (!set) this.#symbolListeners.set(symbol, (set = new Set()));
        set.add(listener);
        this.#safely(() => listener(this.#snapshot.quotes[symbol]));
        return () => void set.delete(listener);
      },
    };
  }

  /** Apply one update: one new snapshot and one notification, or none when nothing of ours changed. Returns the quotes that changed. */
  update(u: StoreUpdate): Quote[] {
    const prev = this.#snapshot;
    const changed: Quote[] = [];
    for (const q of u.quotes ?? []) if (this.#wanted.has(q.sym) && prev.quotes[q.sym] !== q) changed.push(q);
    const confirmed = u.confirmed?.filter((s) => this.#wanted.has(s) && prev.quotes[s] !== undefined) ?? [];
    const statusChanged = u.status !== undefined && (u.status.status !== prev.status || u.status.reason !== prev.reason);
    if (changed.length === 0 && confirmed.length === 0 && !statusChanged) return changed;
    const quotes: Record<string, Quote> = changed.length > 0 ? { ...prev.quotes } : (prev.quotes as Record<string, Quote>);
    const confirmedAt: Record<string, number> = { ...prev.confirmedAt };
    for (const q of changed) {
      // Frozen: a quote handed to the app is never changed afterwards, by it or by us.
      quotes[q.sym] = Object.isFrozen(q) ? q : Object.freeze(q);
      confirmedAt[q.sym] = u.at;
    }
    for (const s of confirmed) confirmedAt[s] = u.at;
    this.#snapshot = Object.freeze({
      quotes: changed.length > 0 ? Object.freeze(quotes) : quotes,
      status: u.status?.status ?? prev.status,
      reason: u.status ? u.status.reason : prev.reason,
      confirmedAt: Object.freeze(confirmedAt),
    });
    for (const l of this.#listeners) this.#safely(() => l(this.#snapshot));
    for (const q of changed) {
      const set = this.#symbolListeners.get(q.sym);
      if (set) for (const l of set) this.#safely(() => l(q));
    }
    return changed;
  }

  /** A throwing listener is reported, never allowed to stop the others or the stream. */
  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
