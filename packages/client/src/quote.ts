/** One quote as the feed published it and the server forwarded it (CONTRACT.md "NATS feed"). */
export interface Quote {
  /** The symbol, upper case (`AAPL`, `BRK.B`). */
  readonly sym: string;
  /** Publish time, milliseconds since the epoch. */
  readonly ts: number;
  /** Increasing per symbol. */
  readonly seq: number;
  readonly bid?: number;
  readonly ask?: number;
  readonly bsz?: number;
  readonly asz?: number;
  readonly last?: number;
  readonly vol?: number;
  /** Any other field the feed sent, forwarded unchanged. */
  readonly [field: string]: unknown;
}

/**
 * The state of the connection:
 * - `connecting`: the first attempt (or a re-open for a change of symbols) is under way;
 * - `live`: the stream is open and its snapshot arrived, values are current;
 * - `reconnecting`: the connection was lost or refused, the next attempt waits out a backoff;
 * - `stale`: nothing (not even a heartbeat) arrived for `staleMs`; a reconnect follows at once;
 * - `closed`: for good: closed by the app, or an answer that asking again will not change (400, 403,
 *   401 without a token callback). The reason says which.
 */
export type Status = "connecting" | "live" | "reconnecting" | "stale" | "closed";

/** Details of a status change. */
export interface StatusDetail {
  /** Why: the server's error message, "connection lost: ...", "symbols changed", "closed by the app". */
  reason?: string;
  /** With `reconnecting`: how long until the next attempt, in milliseconds. */
  retryInMs?: number;
  /** The base URL connected to or being tried. */
  url?: string;
}
