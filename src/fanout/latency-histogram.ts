/**
 * A fixed-bucket histogram cheap enough for the hot path (one loop over a dozen numbers,
 * no labels, no allocation). prom-client reads it at scrape time.
 */
export class LatencyHistogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  /** Upper bounds in seconds, ascending; the +Inf bucket is implicit. */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  /** Cumulative counts per bound, as Prometheus buckets are. */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const c of this.counts) out.push((acc += c));
    return out;
  }
}

/** Publish-to-write latency buckets: from one millisecond to ten seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Publish-to-write latencies beyond this are not fan-out latency and are not observed: a quote is
 * written at the next flush, and a connection congested for `--slow-consumer-ms` (10 s by default)
 * is closed, so none waits in quotecast for a minute. What lies beyond is a `ts` that is wrong
 * (the feed forwards any finite number: one of ten years ahead or −8.64e15 took the histogram's
 * sum to 1.7e13 s) or a quote read again after a long NATS outage: counted, not observed.
 */
export const MAX_PLAUSIBLE_LATENCY_S = 60;

/**
 * A quote stamped up to this far in the future is taken as clock skew between the publisher's
 * host and ours and observed as 0; further ahead it is counted as `future`.
 */
export const CLOCK_SKEW_S = 1;

/** Why a publish-to-write latency was not observed; the `reason` label of its counter. */
export type ImplausibleLatency = "future" | "too_old";
export const IMPLAUSIBLE_LATENCY_REASONS: readonly ImplausibleLatency[] = ["future", "too_old"];

/** The publish-to-write histogram: observes plausible latencies only, counts the rest by reason. */
export class PublishLatencyHistogram extends LatencyHistogram {
  readonly implausible: Record<ImplausibleLatency, number> = { future: 0, too_old: 0 };

  constructor() {
    super(LATENCY_BUCKETS);
  }

  override observe(seconds: number): void {
    if (seconds > MAX_PLAUSIBLE_LATENCY_S) this.implausible.too_old++;
    else if (seconds < -CLOCK_SKEW_S || Number.isNaN(seconds)) this.implausible.future++;
    else super.observe(Math.max(0, seconds));
  }

  /**
   * `observe(ms / 1000)`, for the fan-out's call per quote per frame built. A whole number of
   * milliseconds goes in as a small integer; a number of seconds is a double, which V8 boxes
   * (16 bytes) on every call it does not inline: with deltas it did not, 150 bytes per frame
   * (bench/delta-cost.ts). The bucket loop is `observe`'s, repeated so that no double is passed on.
   */
  observeMs(ms: number): void {
    const seconds = ms / 1000;
    if (seconds > MAX_PLAUSIBLE_LATENCY_S) this.implausible.too_old++;
    else if (seconds < -CLOCK_SKEW_S || Number.isNaN(seconds)) this.implausible.future++;
    else {
      const s = Math.max(seconds, 0);
      this.sum += s;
      this.count++;
      const b = this.bounds;
      for (let i = 0; i < b.length; i++) {
        if (s <= b[i]!) {
          this.counts[i]!++;
          return;
        }
      }
    }
  }
}
