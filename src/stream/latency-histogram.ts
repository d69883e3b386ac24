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
