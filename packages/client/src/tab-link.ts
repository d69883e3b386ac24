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
  | { t: "over"; to: string; n: number; max: number };

export type Envelope = Message & { from: string };

export interface TabLink {
  /** This tab's id (unique per client object). */
  readonly id: string;
  post(m: Message): void;
  /** Ids of the tabs whose client is still alive (each holds a lock for its lifetime). */
  alive(): Promise<Set<string>>;
  /** Leave: the leader lock (if held) passes to the next tab in line. */
  close(): void;
}

/**
 * Join the tabs sharing connection `name`: a leader is elected with the Web Locks API (a lock
 * held while the page lives and released by the browser when it goes), messages go over
 * `BroadcastChannel`. Undefined where either API is missing (Node, old browsers).
 */
export function tabLink(name: string, handlers: { message(m: Envelope): void; leader(): void }): TabLink | undefined {
  const locks = typeof navigator === "undefined" ? undefined : (navigator as Navigator).locks;
  if (locks === undefined || typeof BroadcastChannel !== "function") return undefined;
  const id = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  const tabPrefix = name + ":tab:";
  const channel = new BroadcastChannel(name);
  const abort = new AbortController();
  let closed = false;
  const releases: (() => void)[] = [];
  const hold = (lock: string, granted?: () => void): void => {
    locks
      .request(lock, { signal: abort.signal }, () => {
        if (closed) return;
        granted?.();
        return new Promise<void>((resolve) => releases.push(resolve));
      })
      .catch(() => undefined); // aborted by close() while waiting in line
  };
  channel.onmessage = (e: MessageEvent<Envelope>) => {
    if (!closed) handlers.message(e.data);
  };
  // The tab lock is the tab's sign of life for the leader's sweep; the leader lock is queued for.
  hold(tabPrefix + id);
  hold(name + ":leader", handlers.leader);
  return {
    id,
    post(m) {
      if (!closed) channel.postMessage({ ...m, from: id });
    },
    async alive() {
      const state = await locks.query();
      return new Set((state.held ?? []).flatMap((l) => (l.name?.startsWith(tabPrefix) ? [l.name.slice(tabPrefix.length)] : [])));
    },
    close() {
      if (closed) return;
      closed = true;
      abort.abort();
      for (const release of releases) release();
      channel.close();
    },
  };
}
