/** Publish-to-receive latency, 1 ms buckets up to a minute: no allocation per sample. */
export class LatencyHistogram {
  readonly buckets = new Float64Array(60_001);
  count = 0;
  max = 0;

  record(ms: number): void {
    const b = ms < 0 ? 0 : ms > 60_000 ? 60_000 : Math.round(ms);
    this.buckets[b]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** Non-empty buckets as [ms, count] pairs: what a client process sends to the runner. */
  sparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.buckets.length; i++) if (this.buckets[i]! > 0) out.push([i, this.buckets[i]!]);
    return out;
  }

  add(sparse: readonly [number, number][]): void {
    for (const [ms, n] of sparse) {
      this.buckets[ms]! += n;
      this.count += n;
      if (ms > this.max) this.max = ms;
    }
  }

  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const want = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= want) return i;
    }
    return this.buckets.length - 1;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.max = 0;
  }
}
