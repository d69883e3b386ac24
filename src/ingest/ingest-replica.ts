import type { Logger } from "../log/logger.js";
import type { IngestListener } from "./ingest.js";
import { applyRecords, INGEST_BATCH, INGEST_HELLO, INGEST_STATE, type IngestBatch, type IngestState, type RecordTarget } from "./ingest-records.js";
import type { LastValues } from "./last-values.js";
import type { InvalidReason } from "./validate.js";

/** What a worker needs of its ingest, whether it reads NATS itself or is fed by the node's. */
export interface WorkerIngest {
  readonly connected: boolean;
  readonly loaded: boolean;
  /** Feed messages received (by this worker, or by the node's ingest for it). */
  readonly received: number;
  /** Live messages not in stream order, read from JetStream instead (see ingest.ts). */
  readonly outOfOrderLive: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A worker's side of the shared ingest (`--ingest shared`, see node-ingest.ts): no NATS
 * connection of its own; it replays the records the primary sends on its `LastValues` and
 * tells the fan-out, exactly as FeedIngest would have. The quotes were validated once, in the
 * primary, and arrive as the published JSON with their stream sequence: nothing is parsed here.
 */
export class IngestReplica implements WorkerIngest, RecordTarget {
  readonly #values: LastValues;
  readonly #listener: IngestListener;
  readonly #log: Logger;
  #connected = false;
  #loaded = false;
  #failed = false;
  received = 0;
  /** Counted where the stream is read, in the primary's node ingest, and sent with each batch. */
  outOfOrderLive = 0;

  constructor(values: LastValues, listener: IngestListener, log: Logger) {
    this.#values = values;
    this.#listener = listener;
    this.#log = log;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  start(): Promise<void> {
    process.on("message", this.#onMessage);
    process.send!({ type: INGEST_HELLO });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    process.off("message", this.#onMessage);
    this.#connected = false;
    return Promise.resolve();
  }

  readonly #onMessage = (msg: IngestState | IngestBatch | { type?: string }): void => {
    if (msg?.type !== INGEST_BATCH && msg?.type !== INGEST_STATE) return;
    const m = msg as IngestBatch | IngestState;
    this.received += m.n;
    this.outOfOrderLive += m.o ?? 0;
    // Dropped for the cap in the primary, which keeps the same symbols this worker would have.
    this.#values.overCap += m.c ?? 0;
    try {
      applyRecords(m.r, this);
      if (m.type === INGEST_STATE) this.#log.info({ symbols: this.#values.size, position: this.#values.position, loaded: this.#loaded }, "ingest state applied");
    } catch (err) {
      // Only a primary of another version sends what this worker cannot read.
      if (!this.#failed) this.#log.error({ err }, "could not apply a batch from the node's ingest");
      this.#failed = true;
    }
  };

  quote(sym: string, seq: number, ts: number, json: string): void {
    if (seq === 0) {
      // Only a catch-up across a rebase sends sequence 0 (values not updated since the new
      // stream began): the node's value is the one to hold, though no sequence says it is newer.
      const cur = this.#values.get(sym);
      if (cur !== undefined && cur.streamSeq === 0) {
        if (cur.json !== json) {
          cur.json = json;
          cur.bytes = Buffer.from(json);
          cur.ts = ts;
          this.#listener.onQuote(cur);
        }
        return;
      }
    }
    const applied = this.#values.apply(sym, json, seq, ts);
    if (applied !== undefined) this.#listener.onQuote(applied);
  }

  advance(seq: number): void {
    this.#values.advanceTo(seq);
  }

  invalid(reason: InvalidReason): void {
    this.#listener.onInvalid(reason);
  }

  hold(seq: number): void {
    this.#values.holdPosition(seq);
  }

  release(): void {
    this.#values.releasePosition();
  }

  rebase(): void {
    this.#values.rebase();
    this.#loaded = false;
  }

  markLoaded(epoch: string): void {
    this.#loaded = true;
    this.#listener.onLoaded(epoch);
  }

  markConnected(up: boolean): void {
    this.#connected = up;
  }
}
