import type { Quote, Status } from "./quote.js";

/**
 * What the tabs sharing a connection say to each other over `BroadcastChannel`. The leader holds
 * the connection; followers tell it their symbols (`want`) and it relays what the stream brings.
 */
export type Message =
  /** follower → leader: my symbols (sent on every change and when a new leader says hello). */
  | { t: "want"; syms: readonly string[] }
  /** follower → leader: I am closing. */
  | { t: "bye" }
  /** new leader → all: tell me your symbols. */
  | { t: "hello" }
  /** leader → all: the quotes of one incoming event, full objects (deltas merged), and its id. */
  | { t: "ev"; q: readonly Quote[]; id: string | undefined; k: "snapshot" | "quotes" }
  /** leader → one follower: what it holds of that follower's symbols, in answer to `want`. */
  | { t: "state"; to: string; q: readonly Quote[]; id: string | undefined; s: Status; r: string | undefined }
  /** leader → all: the connection's status. */
  | { t: "st"; s: Status; r: string | undefined }
  /** leader → all: the symbols the connection carries now (followers forget quotes of others). */
  | { t: "syms"; syms: readonly string[] }
  /** leader → one follower: your symbols would take the connection over maxSymbols; refused. */
  | { t: "over"; to: string; n: number; max: number }
  /** follower → leader: I heard nothing from you for a while; are you there? */
  | { t: "ping" }
  /** leader → all: I am (the answer to `ping`). */
  | { t: "here" };

export type Envelope = Message & { from: string };

export interface TabLink {
  /** This tab's id (unique per client object). */
  readonly id: string;
  post(m: Message): void;
  /** Ids of the tabs whose client is still alive (each holds a lock for its lifetime). */
  alive(): Promise<Set<string>>;
  /** Queue for the leader lock (again), unless queued or holding it. */
  join(): void;
  /** Release the leader lock (it passes to the next tab in line) or leave the queue, and stay out of it. */
  resign(): void;
  /** Take the leader lock from its holder at once (`steal`): that tab hangs or is frozen. */
  steal(): void;
  /** Leave: the leader lock (if held) passes to the next tab in line. */
  close(): void;
}

/**
 * Join the tabs sharing connection `name`: a leader is elected with the Web Locks API (a lock
 * held while the page lives and released by the browser when it goes), messages go over
 * `BroadcastChannel`. Undefined where either API is missing (Node, old browsers).
 */
export function tabLink(name: string, handlers: { message(m: Envelope): void; leader(): void; lost(): void }): TabLink | undefined {
  const locks = typeof navigator === "undefined" ? undefined : (navigator as Navigator).locks;
  if (locks === undefined || typeof BroadcastChannel !== "function") return undefined;
  const id = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  const tabPrefix = name + ":tab:";
  const channel = new BroadcastChannel(name);
  const abort = new AbortController();
  let closed = false;
  const releases: (() => void)[] = [];
  locks
    .request(tabPrefix + id, { signal: abort.signal }, () => (closed ? undefined : new Promise<void>((resolve) => releases.push(resolve))))
    .catch(() => undefined); // aborted by close() while waiting in line
  // The leader lock: one request at a time, counted, so that a superseded one is let go at once.
  let round = 0;
  let queued: AbortController | undefined;
  let release: (() => void) | undefined;
  const lead = (steal: boolean): void => {
    const mine = ++round;
    queued?.abort();
    queued = steal ? undefined : new AbortController();
    let granted = false;
    // `steal` may not be combined with `signal`: a stolen-from tab's request is rejected instead.
    locks
      .request(name + ":leader", queued ? { signal: queued.signal } : { steal: true }, () => {
        if (closed || mine !== round) return;
        granted = true;
        queued = undefined;
        return new Promise<void>((resolve) => {
          release = resolve;
          handlers.leader();
        });
      })
      .catch(() => {
        // Rejected: aborted while in line (our doing), or the lock was stolen while held.
        if (!granted || closed || mine !== round) return;
        release = undefined;
        round++;
        handlers.lost();
      });
  };
  channel.onmessage = (e: MessageEvent<Envelope>) => {
    if (!closed) handlers.message(e.data);
  };
  // The tab lock is the tab's sign of life for the leader's sweep; the leader lock is queued for.
  lead(false);
  return {
    id,
    post(m) {
      if (!closed) channel.postMessage({ ...m, from: id });
    },
    async alive() {
      const state = await locks.query();
      return new Set((state.held ?? []).flatMap((l) => (l.name?.startsWith(tabPrefix) ? [l.name.slice(tabPrefix.length)] : [])));
    },
    join() {
      if (!closed && !queued && !release) lead(false);
    },
    resign() {
      round++;
      queued?.abort();
      queued = undefined;
      release?.();
      release = undefined;
    },
    steal() {
      if (!closed && !release) lead(true);
    },
    close() {
      if (closed) return;
      closed = true;
      abort.abort();
      this.resign();
      for (const r of releases) r();
      channel.close();
    },
  };
}
