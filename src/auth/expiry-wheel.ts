/**
 * Streams close when their token expires, without a timer per connection: items are filed in
 * buckets of `resolutionMs` by the first sweep at or after their expiry, and one per-worker timer
 * calls `due(now)` every `resolutionMs`. Pure: the caller passes the time.
 */
export class ExpiryWheel<T> {
  readonly #resolutionMs: number;
  readonly #buckets = new Map<number, Set<T>>();
  readonly #bucketOf = new Map<T, number>();

  constructor(resolutionMs: number) {
    this.#resolutionMs = resolutionMs;
  }

  get size(): number {
    return this.#bucketOf.size;
  }

  /** File `item` to be returned by `due(now)` at most `resolutionMs` after `expiresAtMs`, never before. */
  add(item: T, expiresAtMs: number): void {
    this.remove(item);
    const key = Math.ceil(expiresAtMs / this.#resolutionMs);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) this.#buckets.set(key, (bucket = new Set()));
    bucket.add(item);
    this.#bucketOf.set(item, key);
  }

  remove(item: T): void {
    const key = this.#bucketOf.get(item);
    if (key === undefined) return;
    this.#bucketOf.delete(item);
    const bucket = this.#buckets.get(key)!;
    bucket.delete(item);
    if (bucket.size === 0) this.#buckets.delete(key);
  }

  /** Remove and return every item whose expiry is at or before `nowMs` (rounded up to a bucket). */
  due(nowMs: number): T[] {
    const nowKey = Math.floor(nowMs / this.#resolutionMs);
    const out: T[] = [];
    // Buckets are few (one per distinct expiry second among open streams): scan them all.
    for (const [key, bucket] of this.#buckets) {
      if (key > nowKey) continue;
      for (const item of bucket) {
        out.push(item);
        this.#bucketOf.delete(item);
      }
      this.#buckets.delete(key);
    }
    return out;
  }
}
