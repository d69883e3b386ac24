import type { Verdict } from "../http/admission-port.js";
import type { RejectReason } from "../metrics/worker-metrics.js";

export interface AdmissionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  /** New connections per second, whole server; 0 = no limit. */
  readonly maxConnectRate: number;
  /** New connections per second per address; 0 = no limit. */
  readonly maxConnectRatePerIp: number;
  /** Burst a per-address bucket admits at least; default MIN_BURST_PER_IP. */
  readonly minBurstPerIp?: number;
}

export type { Verdict } from "../http/admission-port.js";

/** A per-address bucket lets a burst of at least this many connections in at once. */
export const MIN_BURST_PER_IP = 500;
/** Idle per-address buckets are forgotten after this long, so memory follows active clients. */
const BUCKET_IDLE_MS = 60_000;

/**
 * Connection caps and connect-rate limits for the whole server. Pure (time is passed in); the
 * primary holds the one instance, so "at most N open" holds across workers however unevenly the
 * kernel spreads connections over them, and no connection is refused while fewer are open.
 */
export class Admission {
  #open = 0;
  readonly #openPerIp = new Map<string, number>();
  readonly #global: TokenBucket | null;
  readonly #perIp = new Map<string, TokenBucket>();
  #lastSweep = 0;

  constructor(readonly limits: AdmissionLimits) {
    this.#global = limits.maxConnectRate > 0 ? new TokenBucket(limits.maxConnectRate, Math.max(1, limits.maxConnectRate)) : null;
  }

  get open(): number {
    return this.#open;
  }

  openFor(ip: string): number {
    return this.#openPerIp.get(ip) ?? 0;
  }

  /** Admit a new connection from `ip` at `now` (ms), or say why not and when to come back. */
  admit(ip: string, now: number): Verdict {
    this.#sweep(now);
    const l = this.limits;
    // Caps are checked before rate buckets, so a refused connection does not spend a token.
    if (this.#open >= l.maxConnections) return reject("max_connections", 5);
    const perIp = this.#openPerIp.get(ip) ?? 0;
    if (perIp >= l.maxConnectionsPerIp) return reject("max_connections_per_ip", 5);
    if (this.#global !== null && !this.#global.take(now)) return reject("connect_rate", 1);
    if (l.maxConnectRatePerIp > 0) {
      let bucket = this.#perIp.get(ip);
      if (bucket === undefined) {
        bucket = new TokenBucket(l.maxConnectRatePerIp, Math.max(1, l.minBurstPerIp ?? MIN_BURST_PER_IP, l.maxConnectRatePerIp));
        this.#perIp.set(ip, bucket);
      }
      if (!bucket.take(now)) return reject("connect_rate_per_ip", 1);
    }
    this.#open++;
    this.#openPerIp.set(ip, perIp + 1);
    return { ok: true };
  }

  /**
   * Count a connection that was admitted elsewhere (by the primary) without checking or spending
   * anything, so that a later local decision sees what is already open here.
   */
  hold(ip: string): void {
    this.#open++;
    this.#openPerIp.set(ip, (this.#openPerIp.get(ip) ?? 0) + 1);
  }

  /** A connection admitted earlier has closed. */
  release(ip: string, count = 1): void {
    const perIp = (this.#openPerIp.get(ip) ?? 0) - count;
    if (perIp > 0) this.#openPerIp.set(ip, perIp);
    else this.#openPerIp.delete(ip);
    this.#open = Math.max(0, this.#open - count);
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < BUCKET_IDLE_MS) return;
    this.#lastSweep = now;
    for (const [ip, bucket] of this.#perIp) if (bucket.idleSince(now) > BUCKET_IDLE_MS) this.#perIp.delete(ip);
  }
}

/**
 * `Retry-After` with jitter: clients refused together must not all come back in the same second,
 * or a reconnect storm simply repeats itself.
 */
function reject(reason: RejectReason, baseSeconds: number): Verdict {
  return { ok: false, reason, retryAfterSeconds: baseSeconds + Math.floor(Math.random() * (baseSeconds * 2 + 1)) };
}

/** Classic token bucket: `rate` tokens a second, holding at most `burst`. */
export class TokenBucket {
  #tokens: number;
  #last = Number.NaN;

  constructor(
    readonly rate: number,
    readonly burst: number,
  ) {
    this.#tokens = burst;
  }

  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  idleSince(now: number): number {
    return Number.isNaN(this.#last) ? 0 : now - this.#last;
  }

  #refill(now: number): void {
    if (!Number.isNaN(this.#last)) this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
  }
}

/**
 * One worker's share of the server's limits: each cap and rate divided by the number of workers,
 * rounded down so that the shares together never exceed the whole (a cap below the number of
 * workers gives a share of 0: refuse rather than exceed). What a worker applies on its own when
 * the primary cannot give a verdict.
 */
export function localShare(limits: AdmissionLimits, workers: number): AdmissionLimits {
  const n = Math.max(1, workers);
  return {
    maxConnections: Math.floor(limits.maxConnections / n),
    maxConnectionsPerIp: Math.floor(limits.maxConnectionsPerIp / n),
    // A rate stays "no limit" at 0; a positive rate keeps a positive share (fractional tokens refill).
    maxConnectRate: limits.maxConnectRate / n,
    maxConnectRatePerIp: limits.maxConnectRatePerIp / n,
    minBurstPerIp: Math.floor((limits.minBurstPerIp ?? MIN_BURST_PER_IP) / n),
  };
}
