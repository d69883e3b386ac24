/** One quote as the feed published it and the server forwarded it (CONTRACT.md "NATS feed"). */
export interface Quote {
  sym: string;
  /** Publish time, milliseconds since the epoch. */
  ts: number;
  /** Increasing per symbol. */
  seq: number;
  bid?: number;
  ask?: number;
  bsz?: number;
  asz?: number;
  last?: number;
  vol?: number;
  [field: string]: unknown;
}

export type Status = "connecting" | "live" | "reconnecting" | "stale" | "closed";
