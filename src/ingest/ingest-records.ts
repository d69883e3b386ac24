import type { InvalidReason } from "./validate.js";

/**
 * What a node's one shared ingest (in the primary) tells its workers, as a flat list of records
 * in the order they happened: each worker replays them on its own `LastValues` and reaches the
 * same state, the same stream positions and so the same event ids as the ingest itself.
 *
 * Flat (a tag then its fields) rather than an object per record: Node's IPC serializes a message
 * as JSON, and one array of strings and numbers is what it does fastest, with no per-quote
 * object on either side. Every string arrives as a string of its own (not a slice of the batch),
 * so a last value held for hours pins no batch.
 */
export enum RecordTag {
  /** quote: sym, stream seq, ts, json — a valid quote that became its symbol's latest value */
  Quote = 0,
  /** advance: stream seq — a stream message that changed no value (invalid, or superseded) */
  Advance = 1,
  /** invalid: reason — a feed message was dropped for breaking a rule */
  Invalid = 2,
  /** hold: stream seq — a catch-up began; ids stay at this position until it ends */
  Hold = 3,
  /** release — the catch-up reached the end of the stream */
  Release = 4,
  /** rebase — the stream was recreated; its sequences start again */
  Rebase = 5,
  /** loaded: epoch — the stream has been read to its end once (again, after a rebase) */
  Loaded = 6,
  /** connected: 0 or 1 — the ingest's NATS connection went down or came back */
  Connected = 7,
  /**
   * invalids: reason, count — feed messages dropped for this reason while the worker was behind
   * (a catch-up message, see worker-feed.ts, sums them instead of repeating `Invalid`)
   */
  Invalids = 8,
}

export type IngestRecord = number | string;

/** What a replica applies records to: `LastValues` plus the worker's ingest listener. */
export interface RecordTarget {
  quote(sym: string, seq: number, ts: number, json: string): void;
  advance(seq: number): void;
  invalid(reason: InvalidReason): void;
  hold(seq: number): void;
  release(): void;
  rebase(): void;
  markLoaded(epoch: string): void;
  markConnected(up: boolean): void;
}

/** Messages on the IPC channel between the primary and a worker, for the shared ingest. */
export const INGEST_HELLO = "qc-ingest-hello";
export const INGEST_STATE = "qc-ingest-state";
export const INGEST_BATCH = "qc-ingest-batch";

/** worker → primary: send me the state, then every batch. */
export interface IngestHello {
  readonly type: typeof INGEST_HELLO;
}

/** primary → worker, once, before any batch: everything up to now, as records. */
export interface IngestState {
  readonly type: typeof INGEST_STATE;
  readonly r: IngestRecord[];
  /** Feed messages the ingest had received so far (the workers' counter starts from it). */
  readonly n: number;
  /** Live messages it had left to JetStream for being out of order (absent from older primaries). */
  readonly o?: number;
  /** Quotes it had dropped for --max-feed-symbols (absent when none). */
  readonly c?: number;
}

/** primary → worker: what happened since the previous batch. */
export interface IngestBatch {
  readonly type: typeof INGEST_BATCH;
  readonly r: IngestRecord[];
  /** Feed messages received since the previous batch. */
  readonly n: number;
  /** Live messages out of order since the previous batch (absent when none). */
  readonly o?: number;
  /** Quotes dropped for --max-feed-symbols since the previous batch (absent when none). */
  readonly c?: number;
}

/**
 * Replay `records` on `target`. Throws IngestRecordError on a record it does not know (a primary
 * and a worker of different versions): the worker then cannot be trusted to hold current values.
 */
export function applyRecords(records: readonly IngestRecord[], target: RecordTarget): void {
  let i = 0;
  while (i < records.length) {
    const tag = records[i++];
    switch (tag) {
      case RecordTag.Quote:
        target.quote(records[i] as string, records[i + 1] as number, records[i + 2] as number, records[i + 3] as string);
        i += 4;
        break;
      case RecordTag.Advance:
        target.advance(records[i++] as number);
        break;
      case RecordTag.Invalid:
        target.invalid(records[i++] as InvalidReason);
        break;
      case RecordTag.Hold:
        target.hold(records[i++] as number);
        break;
      case RecordTag.Release:
        target.release();
        break;
      case RecordTag.Rebase:
        target.rebase();
        break;
      case RecordTag.Loaded:
        target.markLoaded(records[i++] as string);
        break;
      case RecordTag.Connected:
        target.markConnected(records[i++] === 1);
        break;
      case RecordTag.Invalids: {
        const reason = records[i] as InvalidReason;
        for (let n = records[i + 1] as number; n > 0; n--) target.invalid(reason);
        i += 2;
        break;
      }
      default:
        throw new IngestRecordError(`unknown ingest record tag ${JSON.stringify(tag)} at ${i - 1}`);
    }
  }
}

/** A batch from the shared ingest that this worker cannot read. */
export class IngestRecordError extends Error {
  override readonly name = "IngestRecordError";
}
