// Messages between the bench runner and its load-generator and publisher processes (IPC).

export interface ClientTotals {
  /** quotes events (one per frame written by the server). */
  events: number;
  /** Quotes inside them, on reading connections (slow ones are not parsed). */
  quotes: number;
  /** Body bytes after chunked decoding (compressed, for gzip streams). */
  bytes: number;
  /** gzip streams only: their body bytes decompressed. */
  plainBytes?: number;
  snapshots: number;
  heartbeats: number;
  /** Connections that closed after opening (server dropped them). */
  dropped: number;
  /** Quote objects delivered (full quotes or deltas), counted by their `sym`, on reading connections. */
  delivered: number;
}

export type ClientCommand =
  | {
      cmd: "init";
      port: number;
      /** Request path of each connection of this process. */
      paths: string[];
      /** Index of this process's first connection in the run: spreads source addresses. */
      firstIndex: number;
      sourceAddresses: number;
      /** This share of the connections stops reading once open. */
      slowShare: number;
      /** quotecast, ceiling and naive open with `event: snapshot`; nchan with its headers. */
      openOn: "snapshot" | "headers";
      openTimeoutMs: number;
      /** Send `Accept-Encoding: gzip` (and decompress what comes back gzip). */
      acceptGzip?: boolean;
      /** Symbols BN0000.. in the feed (visibility lag keeps the newest seq of each). */
      universe: number;
      /** Extra request header lines (`Name: value\r\n` each), for modes that need them. */
      headers?: string;
    }
  | { cmd: "open"; concurrency: number }
  | { cmd: "storm"; concurrency: number }
  | { cmd: "mark" }
  | { cmd: "totals" }
  | { cmd: "churn"; sharePerSecond: number }
  | { cmd: "stop-churn" }
  | { cmd: "verify" }
  | { cmd: "check"; finals: Record<string, number> }
  /** When the publisher sent each seq: (symbol index, seq, ms since the epoch) triples. No reply. */
  | { cmd: "pubtimes"; log: number[] }
  | { cmd: "close" };

export type ClientReply =
  | { cmd: "ready" }
  | { cmd: "ok" }
  | { cmd: "error"; message: string }
  | { cmd: "opened"; opened: number; failed: number; firstError?: string; seconds: number }
  | { cmd: "totals"; totals: ClientTotals; hist: [number, number][]; visibility: [number, number][]; open: number; cpuSec: number }
  | { cmd: "churned"; reopened: number; failed: number }
  | { cmd: "checked"; current: number; closed: number; total: number; firstMiss?: string };

export type PublisherCommand = { cmd: "stop" } | { cmd: "final" };
export type PublisherReply =
  | { cmd: "ready" }
  | { cmd: "stopped"; published: number; seconds: number; finals: Record<string, number>; behind: number; fieldRates: Record<string, number> }
  /** Sent as it publishes, unasked: see ClientCommand "pubtimes". */
  | { cmd: "sent"; log: number[] }
  | { cmd: "error"; message: string };
