import { Connection, type ConnectionOptions } from "./connection.js";
import { TooManySymbolsError } from "./errors.js";
import { normalizeSymbols, sameQuote } from "./merge.js";
import type { Quote, Status, StatusDetail } from "./quote.js";
import { Store, type QuoteSnapshot, type SymbolStore } from "./store.js";
import { tabLink, type Envelope, type Message, type TabLink } from "./tab-link.js";

/** Options of `createClient()`. */
export interface ClientOptions extends ConnectionOptions {
  /**
   * Share one connection between all tabs of this origin that use the same `channel` and URLs: one
   * tab (elected with Web Locks) holds it, the others follow over `BroadcastChannel`. Where either
   * API is missing (Node, old browsers) each page has its own connection. Default true.
   */
  share?: boolean;
  /** Name of the shared connection; clients with other names never share. Default: the URLs. */
  channel?: string;
  /**
   * Changes of the symbol set made within this many milliseconds of each other cause a single
   * re-open of the stream. Default 50 (the server's default flush window).
   */
  batchMs?: number;
  /**
   * Most symbols the connection may carry at once: the server's `--max-symbols`. A subscription
   * that would go over throws `TooManySymbolsError`. Default 200.
   */
  maxSymbols?: number;
  /** Non-fatal problems: HTTP error answers, lost connections, bad frames, throwing listeners. Default: none. */
  onError?(err: Error): void;
  /**
   * Shared connection: a follower tab that has heard nothing from the leader tab for half this long
   * asks whether it is there; unanswered within this long in all (the leader's page hangs, or was
   * frozen without a `freeze` event), it takes the lock and the connection over, resuming by event
   * id. The leader answers from a one-off timer task: a frozen page runs none, a background tab runs
   * it within milliseconds (only chained timers are throttled there). Default 1000 ms.
   */
  leaderTimeoutMs?: number;
}

/** Called once per incoming event that changed quotes of the subscription (never per quote). */
export type QuoteListener = (snapshot: QuoteSnapshot, changed: readonly Quote[], kind: "snapshot" | "update") => void;

/** One subscription: a set of symbols and its store. Framework-free; see `QuoteSnapshot`. */
export interface QuoteSubscription {
  /** The symbols, normalised (upper case, no duplicates). */
  readonly symbols: readonly string[];
  /** The current immutable snapshot: for React's `useSyncExternalStore(sub.subscribe, sub.getSnapshot)`. */
  getSnapshot(): QuoteSnapshot;
  /** Calls `listener` at once with the snapshot (Svelte's store contract), then on every change. Returns the unsubscribe function. */
  subscribe(listener: (snapshot: QuoteSnapshot) => void): () => void;
  /** A store of one symbol's quote: a row built on it re-renders only when that symbol changes. */
  select(symbol: string): SymbolStore;
  /** Drops this subscription's symbols from the connection (unless another subscription holds them). */
  close(): void;
}

/** A client: any number of subscriptions on one connection per browser (or per page). */
export interface QuoteClient {
  /**
   * Subscribe to `symbols`. The connection carries the union of all subscriptions' symbols, counted
   * by reference; symbols added later come in full, held ones keep their values. Throws
   * `TooManySymbolsError` when the union would exceed `maxSymbols`.
   */
  subscribe(symbols: readonly string[], listener?: QuoteListener): QuoteSubscription;
  /** The connection's status (as the tab holding it reports it). */
  readonly status: Status;
  /** `leader`: this page holds the shared connection; `follower`: another tab does; `page`: not shared. */
  readonly role: "leader" | "follower" | "page";
  /** Closes every subscription and the connection (another tab takes it over when shared). */
  close(): void;
}

const DEFAULT_BATCH_MS = 50;
const DEFAULT_MAX_SYMBOLS = 200;
/** How often the leader looks for tabs that went away without saying so (crashed, killed). */
const TAB_SWEEP_MS = 5_000;
const DEFAULT_LEADER_TIMEOUT_MS = 1_000;

const visible = (): boolean => typeof document !== "undefined" && document.visibilityState === "visible";

/**
 * Create a client. `urls` is a base URL (`https://quotes.example.com`) or several, tried in turn
 * (failover between nodes).
 */
export function createClient(urls: string | readonly string[], options: ClientOptions = {}): QuoteClient {
  return new Client(typeof urls === "string" ? [urls] : [...urls], options);
}

interface Sub {
  readonly store: Store;
  readonly listener: QuoteListener | undefined;
}

class Client implements QuoteClient {
  readonly #urls: string[];
  readonly #options: ClientOptions;
  readonly #maxSymbols: number;
  readonly #subs = new Set<Sub>();
  /** Symbol → number of this page's subscriptions holding it. */
  readonly #refs = new Map<string, number>();
  /** Every quote this page knows: the connection's (leader) or the relayed ones (follower). */
  readonly #held = new Map<string, Quote>();
  #lastEventId: string | undefined;
  #status: Status = "connecting";
  #reason: string | undefined;
  #heardAt = 0;
  #role: "leader" | "follower" | "page";
  #conn: Connection | undefined;
  #link: TabLink | undefined;
  /** Leader only: the other tabs' symbol sets. */
  readonly #tabs = new Map<string, readonly string[]>();
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** Follower only: the tab that leads (undefined until heard), when it was last heard, and our unanswered ping. */
  #leaderId: string | undefined;
  #leaderHeardAt = Date.now();
  #pingAt: number | undefined;
  #pinger: string | undefined;
  readonly #leaderTimeoutMs: number;
  #watchTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(urls: string[], options: ClientOptions) {
    if (urls.length === 0) throw new TypeError("createClient: at least one base URL is needed");
    this.#urls = urls;
    this.#options = options;
    this.#lastEventId = options.lastEventId;
    this.#maxSymbols = options.maxSymbols ?? DEFAULT_MAX_SYMBOLS;
    this.#link = options.share === false ? undefined : tabLink("quotecast:" + (options.channel ?? urls.join(",")), {
      message: (m) => this.#onMessage(m),
      leader: () => this.#becomeLeader(),
      lost: () => this.#stepDown(),
    });
    this.#role = this.#link ? "follower" : "page";
    this.#leaderTimeoutMs = options.leaderTimeoutMs ?? DEFAULT_LEADER_TIMEOUT_MS;
    if (this.#link) this.#watchTimer = setInterval(() => this.#watchLeader(), this.#leaderTimeoutMs / 5);
    if (this.#link && typeof addEventListener === "function") {
      // A follower's page going away says so at once (the leader's sweep would notice within 5 s);
      // one restored from the back/forward cache queues again and asks for its symbols (#rejoin).
      addEventListener("pagehide", () => this.#role === "follower" && this.#post({ t: "bye" }));
      addEventListener("pageshow", (e) => (e as PageTransitionEvent).persisted && this.#rejoin());
      // Page Lifecycle: a page about to be frozen (or put in the back/forward cache) hands the
      // connection over and leaves the line for it; it queues again when it runs again.
      if (typeof document !== "undefined") {
        document.addEventListener("freeze", () => {
          this.#link?.resign();
          this.#stepDown(false);
        });
        document.addEventListener("resume", () => this.#rejoin());
      }
    }
  }

  get status(): Status {
    return this.#status;
  }
  get role(): "leader" | "follower" | "page" {
    return this.#role;
  }

  subscribe(symbols: readonly string[], listener?: QuoteListener): QuoteSubscription {
    if (this.#closed) throw new Error("createClient: this client is closed");
    const syms = normalizeSymbols(symbols);
    const added = syms.filter((s) => !this.#refs.has(s)).length;
    if (this.#refs.size + added > this.#maxSymbols) throw new TooManySymbolsError(this.#refs.size + added, this.#maxSymbols);
    for (const s of syms) this.#refs.set(s, (this.#refs.get(s) ?? 0) + 1);
    const initial: QuoteSnapshot = { quotes: Object.fromEntries(syms.flatMap((s) => (this.#held.has(s) ? [[s, this.#held.get(s)!]] : []))), status: this.#status, reason: this.#reason, confirmedAt: {} };
    const store = new Store(syms, initial, (e) => this.#report(e));
    const sub: Sub = { store, listener };
    this.#subs.add(sub);
    // No new symbol, nothing to open; but a first subscription with none still learns its status.
    if (added > 0 || (this.#conn === undefined && this.#subs.size === 1)) this.#scheduleSync();
    let open = true;
    return {
      symbols: store.symbols,
      getSnapshot: store.getSnapshot,
      subscribe: store.subscribe,
      select: (s) => store.select(s),
      close: () => {
        if (!open) return;
        open = false;
        this.#subs.delete(sub);
        let removed = false;
        for (const s of syms) {
          const n = (this.#refs.get(s) ?? 1) - 1;
          if (n > 0) this.#refs.set(s, n);
          else removed = this.#refs.delete(s);
        }
        if (removed) this.#scheduleSync();
      },
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#refs.clear();
    clearTimeout(this.#syncTimer);
    clearInterval(this.#sweepTimer);
    clearInterval(this.#watchTimer);
    if (this.#role === "follower") this.#post({ t: "bye" });
    // Releasing the lock hands the connection to the next tab in line. The link closes first, so
    // that the followers are not told "closed" by the connection closing below.
    this.#link?.close();
    this.#conn?.close();
    this.#conn = undefined;
    // The subscriptions see it: their last snapshot says closed.
    this.#setStatus("closed", "closed by the app");
    this.#subs.clear();
  }

  /** Changes close together make one re-open: wait `batchMs` for more. */
  #scheduleSync(): void {
    if (this.#syncTimer !== undefined || this.#closed) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.#sync();
    }, this.#options.batchMs ?? DEFAULT_BATCH_MS);
  }

  #sync(): void {
    if (this.#closed) return;
    const mine = [...this.#refs.keys()];
    if (this.#role === "follower") {
      this.#post({ t: "want", syms: mine });
      return;
    }
    const union = this.#union(mine);
    for (const s of this.#held.keys()) if (!union.has(s)) this.#held.delete(s);
    // A connection closed by a fatal answer (403 for one symbol, say) is opened anew for the new set.
    if (this.#conn && this.#conn.status !== "closed") this.#conn.setSymbols([...union]);
    else this.#conn = this.#connect([...union]);
    if (this.#role === "leader") this.#post({ t: "syms", syms: [...union] });
  }

  /** This page's symbols and every follower's, up to `maxSymbols`: a tab that would go over is refused, and told. */
  #union(mine: readonly string[]): Set<string> {
    const union = new Set(mine);
    for (const [tab, syms] of this.#tabs) {
      const extra = syms.filter((s) => !union.has(s));
      if (union.size + extra.length > this.#maxSymbols) {
        this.#post({ t: "over", to: tab, n: union.size + extra.length, max: this.#maxSymbols });
        continue;
      }
      for (const s of extra) union.add(s);
    }
    return union;
  }

  #connect(symbols: string[]): Connection {
    const opts: ConnectionOptions = { ...this.#options };
    if (this.#lastEventId !== undefined) opts.lastEventId = this.#lastEventId;
    // A connection given up (this tab stepped down) says nothing more: it is not this.#conn.
    const conn: Connection = new Connection(
      this.#urls,
      symbols,
      {
        onQuotes: (quotes, kind) => {
          if (conn !== this.#conn) return;
          this.#lastEventId = conn.lastEventId ?? this.#lastEventId;
          this.#heardAt = Date.now();
          this.#apply(quotes, kind === "snapshot" ? "snapshot" : "update");
          if (this.#role === "leader") this.#post({ t: "ev", q: quotes, id: this.#lastEventId, k: kind });
        },
        onStatus: (status, detail) => conn === this.#conn && this.#connStatus(status, detail),
        onError: (err) => conn === this.#conn && this.#report(err),
      },
      opts,
      this.#held.values(),
    );
    return conn;
  }

  #connStatus(status: Status, detail: StatusDetail | undefined): void {
    if (this.#closed) return;
    // A re-open for a change of symbols keeps every held value current (it resumes by id): the
    // app is not told of a blip it need not grey anything out for.
    if (status === "connecting" && detail?.reason === "symbols changed" && this.#status === "live") return;
    // The app closes the client, not the connection: a fatal answer (400, 403, 401) closes both.
    const reason = status === "live" ? undefined : detail?.reason;
    // The last byte of the stream, heartbeats included: the last moment the held values were current.
    if (status === "live") this.#heardAt = Date.now();
    else this.#heardAt = Math.max(this.#heardAt, this.#conn?.lastActivity ?? 0);
    this.#setStatus(status, reason);
    if (this.#role === "leader") this.#post({ t: "st", s: status, r: reason });
  }

  #setStatus(status: Status, reason: string | undefined): void {
    const wasLive = this.#status === "live";
    if (status === this.#status && reason === this.#reason) return;
    this.#status = status;
    this.#reason = reason;
    const now = Date.now();
    // Leaving live: held values were last vouched for when the stream was last heard. Back to live:
    // the (resumed) snapshot vouches for every held value again.
    const at = status === "live" ? now : wasLive ? this.#heardAt || now : undefined;
    const confirmed = at === undefined ? undefined : [...this.#held.keys()];
    for (const sub of this.#subs) sub.store.update({ status: { status, reason }, ...(confirmed ? { confirmed } : {}), at: at ?? now });
  }

  /** Quotes of one incoming event: held, then each subscription notified at most once. */
  #apply(quotes: readonly Quote[], kind: "snapshot" | "update"): void {
    const fresh: Quote[] = [];
    for (const q of quotes) {
      if (sameQuote(this.#held.get(q.sym), q)) continue;
      this.#held.set(q.sym, q);
      fresh.push(q);
    }
    if (fresh.length === 0) return;
    const at = Date.now();
    for (const sub of this.#subs) {
      const changed = sub.store.update({ quotes: fresh, at });
      if (changed.length > 0 && sub.listener) {
        const listener = sub.listener;
        try {
          listener(sub.store.getSnapshot(), changed, kind);
        } catch (err) {
          this.#report(err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  #becomeLeader(): void {
    if (this.#closed) return;
    this.#role = "leader";
    this.#leaderId = this.#link?.id;
    this.#pingAt = undefined;
    // Followers answer with their symbol sets; the connection opens once they had a batch window.
    this.#post({ t: "hello" });
    this.#scheduleSync();
    this.#sweepTimer = setInterval(() => void this.#sweep(), TAB_SWEEP_MS);
  }

  /**
   * No longer the leader: the lock was taken by a tab that found us silent (hung, or frozen without
   * a `freeze` event), or we resigned on `freeze`. The stream closes at once, so that the server ends
   * with one connection; a frozen page runs this too (Chromium runs lock callbacks of frozen pages).
   * Queuing again and asking for our symbols wait for a timer: they happen only once the page runs.
   */
  #stepDown(rejoin = true): void {
    if (this.#closed || this.#role !== "leader") return;
    this.#role = "follower";
    this.#leaderId = undefined;
    this.#leaderHeardAt = Date.now();
    clearInterval(this.#sweepTimer);
    this.#tabs.clear();
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.close();
    if (rejoin) setTimeout(() => this.#rejoin(), 0);
  }

  /** Running again (after a freeze, a hang, the back/forward cache): back in line, and our symbols asked for. */
  #rejoin(): void {
    if (this.#closed || this.#role !== "follower") return;
    this.#leaderHeardAt = Date.now();
    this.#pingAt = undefined;
    this.#link?.join();
    this.#sync();
  }

  /**
   * Follower: a leader silent for half of `leaderTimeoutMs` is pinged; one that does not
   * answer within `leaderTimeoutMs` in all has its lock stolen. Of followers whose pings crossed,
   * the one with the smallest id steals, and a visible tab (whose timers run on time, unlike those of
   * a background tab, once a second); the others only if they too stay silent.
   */
  #watchLeader(): void {
    if (this.#closed || this.#role !== "follower") return;
    const now = Date.now();
    const half = this.#leaderTimeoutMs / 2;
    if (this.#pingAt === undefined) {
      if (now - this.#leaderHeardAt < half) return;
      this.#pingAt = now;
      this.#pinger = this.#link?.id;
      this.#post({ t: "ping" });
      // The interval of a background tab runs once a second; a one-off timer runs on time.
      setTimeout(() => this.#watchLeader(), half);
    } else if (((this.#pinger === this.#link?.id || visible()) && now - this.#pingAt >= half) || now - this.#pingAt >= this.#leaderTimeoutMs) {
      this.#pingAt = undefined;
      this.#leaderHeardAt = now;
      this.#link?.steal();
    }
  }

  /** Forget tabs that went away without a goodbye (crashed or killed): their lock is gone. */
  async #sweep(): Promise<void> {
    const alive = await this.#link?.alive();
    if (!alive || this.#closed) return;
    let gone = false;
    for (const tab of this.#tabs.keys()) if (!alive.has(tab)) gone = this.#tabs.delete(tab);
    if (gone) this.#scheduleSync();
  }

  #onMessage(m: Envelope): void {
    if (this.#closed) return;
    if (this.#role === "leader") {
      if (m.t === "want") {
        const before = this.#tabs.get(m.from);
        this.#tabs.set(m.from, m.syms);
        const held = m.syms.flatMap((s) => (this.#held.has(s) ? [this.#held.get(s)!] : []));
        this.#post({ t: "state", to: m.from, q: held, id: this.#lastEventId, s: this.#status, r: this.#reason });
        if (!before || m.syms.some((s) => !before.includes(s)) || before.length !== m.syms.length) this.#scheduleSync();
      } else if (m.t === "bye") {
        if (this.#tabs.delete(m.from)) this.#scheduleSync();
      } else if (m.t === "ping") {
        // From a timer task: a frozen page still runs BroadcastChannel handlers, not timers, so
        // a frozen leader stays silent. A single timer is not throttled in a background tab.
        setTimeout(() => this.#role === "leader" && this.#post({ t: "here" }), 0);
      } else if (m.t === "hello") {
        // Another tab took the lock from us while we were not running.
        this.#stepDown();
      }
      return;
    }
    if (this.#role !== "follower") return;
    if (m.t === "ping") {
      // Another follower's ping is ours too; the smallest id of those pinging steals.
      if (this.#pingAt === undefined) {
        this.#pingAt = Date.now();
        this.#pinger = m.from;
      } else if (this.#pinger === undefined || m.from < this.#pinger) this.#pinger = m.from;
      return;
    }
    if (m.t === "want" || m.t === "bye") return;
    // From a leader. One that lost its lock while hung may still relay what it read before it
    // knew: only the tab that said hello last (or, before any, the first heard) is listened to.
    if (m.t === "hello" || this.#leaderId === undefined || (m.t === "here" && this.#pingAt !== undefined)) this.#leaderId = m.from;
    if (m.from !== this.#leaderId) return;
    this.#leaderHeardAt = this.#heardAt = Date.now();
    this.#pingAt = undefined;
    this.#pinger = undefined;
    switch (m.t) {
      case "hello":
        this.#post({ t: "want", syms: [...this.#refs.keys()] });
        break;
      case "ev":
        if (m.id !== undefined) this.#lastEventId = m.id;
        this.#apply(m.q, m.k === "snapshot" ? "snapshot" : "update");
        break;
      case "state":
        if (m.to !== this.#link?.id) return;
        if (m.id !== undefined) this.#lastEventId = m.id;
        this.#apply(m.q, "snapshot");
        this.#setStatus(m.s, m.r);
        break;
      case "st":
        this.#setStatus(m.s, m.r);
        break;
      case "syms": {
        const union = new Set(m.syms);
        for (const s of this.#held.keys()) if (!union.has(s)) this.#held.delete(s);
        break;
      }
      case "over":
        if (m.to === this.#link?.id) this.#report(new TooManySymbolsError(m.n, m.max));
        break;
    }
  }

  #post(m: Message): void {
    this.#link?.post(m);
  }

  #report(err: Error): void {
    try {
      this.#options.onError?.(err);
    } catch {
      // A throwing error handler must not stop the client.
    }
  }
}
