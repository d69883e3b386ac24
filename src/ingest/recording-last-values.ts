import { LastValues, type LastValue } from "./last-values.js";
import { RecordTag, type IngestRecord } from "./ingest-records.js";

/**
 * The shared ingest's last values: `LastValues` that also write down, as records, every change
 * they make, so that workers can replay them in order (see ingest-records.ts). FeedIngest drives
 * it exactly as it drives a worker's own `LastValues`; nothing in the ingest knows it is shared.
 */
export class RecordingLastValues extends LastValues {
  /** Records since the last `take()`. */
  #records: IngestRecord[] = [];
  /** Every entry, in first-seen order: what a worker that starts now must be told. */
  readonly #entries: LastValue[] = [];
  #rebases = 0;

  override apply(sym: string, json: string, streamSeq: number, ts: number): LastValue | undefined {
    const before = this.highWater;
    const size = this.size;
    const applied = super.apply(sym, json, streamSeq, ts);
    if (applied !== undefined) {
      if (this.size > size) this.#entries.push(applied);
      this.#records.push(RecordTag.Quote, sym, streamSeq, ts, json);
    } else if (this.highWater > before) {
      this.#records.push(RecordTag.Advance, streamSeq);
    }
    return applied;
  }

  override advanceTo(streamSeq: number): void {
    super.advanceTo(streamSeq);
    this.#records.push(RecordTag.Advance, streamSeq);
  }

  override holdPosition(seq: number): void {
    super.holdPosition(seq);
    this.#records.push(RecordTag.Hold, seq);
  }

  override releasePosition(): void {
    super.releasePosition();
    this.#records.push(RecordTag.Release);
  }

  override rebase(): void {
    super.rebase();
    this.#rebases++;
    this.#records.push(RecordTag.Rebase);
  }

  /** Rebases so far: a worker that missed one must be sent every value again. */
  get rebases(): number {
    return this.#rebases;
  }

  /** Append a record that is not a change of values (invalid, loaded, connected). */
  note(...record: IngestRecord[]): void {
    for (const r of record) this.#records.push(r);
  }

  get pending(): number {
    return this.#records.length;
  }

  /** The records since the last call; the list starts again empty. */
  take(): IngestRecord[] {
    const out = this.#records;
    this.#records = [];
    return out;
  }

  /**
   * The whole state as records, for a worker that starts now: every value, the high-water mark,
   * the held position if a catch-up is under way, and `loaded` with its epoch once loaded.
   */
  stateRecords(epoch: string | null, connected: boolean): IngestRecord[] {
    return this.catchUpRecords(null, epoch, connected);
  }

  /**
   * What a worker that already replayed everything up to `since` (its position then, and the
   * rebases it had seen) needs to reach the state now, without the records in between: only the
   * values changed since, then the position. Everything at or below a position is reflected in
   * the values, so a value changed after it has a higher stream sequence (a catch-up fills only
   * above the held position); after a missed rebase every value goes again. Call with nothing
   * pending (take() first): the records taken later must follow this state, not precede it.
   * `since` null: the whole state, for a worker that holds nothing yet. `epoch` is sent when not null.
   */
  catchUpRecords(since: { readonly position: number; readonly rebases: number } | null, epoch: string | null, connected: boolean): IngestRecord[] {
    const out: IngestRecord[] = [];
    const all = since === null || since.rebases !== this.#rebases;
    if (since !== null && all) out.push(RecordTag.Rebase);
    const above = all ? Number.NEGATIVE_INFINITY : since.position;
    for (const v of this.#entries) if (v.streamSeq > above) out.push(RecordTag.Quote, v.sym, v.streamSeq, v.ts, v.json);
    out.push(RecordTag.Advance, this.highWater);
    // Exactly the ingest's hold (holdPosition alone keeps the lower of an old and a new one).
    if (since !== null) out.push(RecordTag.Release);
    if (this.position < this.highWater) out.push(RecordTag.Hold, this.position);
    out.push(RecordTag.Connected, connected ? 1 : 0);
    if (epoch !== null) out.push(RecordTag.Loaded, epoch);
    return out;
  }
}
