import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../log/logger.js";
import { FeedIngest, type IngestOptions } from "./ingest.js";
import { INGEST_BATCH, INGEST_HELLO, INGEST_STATE, RecordTag, type IngestBatch, type IngestState } from "./ingest-records.js";
import { RecordingLastValues } from "./recording-last-values.js";

/** How often the primary checks for records no quote scheduled a send for (catch-up marks, connection state). */
const SWEEP_MS = 25;

/**
 * One ingest for the whole node (`--ingest shared`), run by the primary: it reads NATS once
 * (FeedIngest, unchanged: live subscription, catch-ups, resume positions) and hands every worker
 * what changed, in batches over the cluster's IPC channel, instead of each worker taking the full
 * feed from NATS and parsing every quote itself. A worker that starts (or restarts) asks with
 * `INGEST_HELLO` and first gets the whole state, then every batch after it, so it holds the same
 * values and positions, and makes the same event ids, as if it read the stream itself.
 *
 * A batch goes out once the event loop has handled what NATS delivered in one read (setImmediate):
 * at 100k quotes/s that is a few hundred quotes per batch, and no quote waits for a timer.
 */
export class NodeIngest {
  readonly #values: RecordingLastValues;
  readonly #ingest: FeedIngest;
  readonly #workers = new Set<Worker>();
  readonly #log: Logger;
  #epoch: string | null = null;
  #reportedConnected = false;
  #reportedReceived = 0;
  #reportedOutOfOrder = 0;
  #reportedOverCap = 0;
  #scheduled = false;
  #sweep: NodeJS.Timeout | undefined;

  /**
   * @param maxFeedSymbols `--max-feed-symbols`, applied here: the primary holds every value too, and
   *   a feed of new symbols must not grow it past the cap any more than a worker. The workers get
   *   only the symbols kept, and the count of quotes dropped.
   */
  constructor(opts: IngestOptions, log: Logger, maxFeedSymbols = Number.POSITIVE_INFINITY) {
    this.#log = log;
    this.#values = new RecordingLastValues(maxFeedSymbols, () =>
      log.warn({ maxFeedSymbols }, "the feed has more distinct symbols than --max-feed-symbols; quotes of newer symbols are dropped (quotecast_feed_symbols_over_cap_total)"),
    );
    this.#ingest = new FeedIngest(
      this.#values,
      {
        onQuote: () => this.#schedule(),
        onInvalid: (reason) => {
          this.#values.note(RecordTag.Invalid, reason);
          this.#schedule();
        },
        onLoaded: (epoch) => {
          this.#epoch = epoch;
          this.#values.note(RecordTag.Loaded, epoch);
          this.#schedule();
        },
      },
      opts,
      log,
    );
  }

  /** Answer workers' hellos and start reading NATS. */
  start(): void {
    cluster.on("message", this.#onMessage);
    cluster.on("exit", this.#onExit);
    this.#sweep = setInterval(() => this.#flush(), SWEEP_MS);
    void this.#ingest.start().catch((err: unknown) => this.#log.error({ err }, "feed ingest stopped"));
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    cluster.off("message", this.#onMessage);
    cluster.off("exit", this.#onExit);
    await this.#ingest.stop();
  }

  readonly #onMessage = (worker: Worker, msg: { type?: string }): void => {
    if (msg?.type !== INGEST_HELLO) return;
    // What is pending belongs to the workers already here; the newcomer's state includes it.
    this.#flush();
    const state: IngestState = {
      type: INGEST_STATE,
      r: this.#values.stateRecords(this.#ingest.loaded ? this.#epoch : null, this.#reportedConnected),
      n: this.#ingest.received,
      o: this.#ingest.outOfOrderLive,
      c: this.#values.overCap,
    };
    this.#send(worker, state);
    this.#workers.add(worker);
  };

  readonly #onExit = (worker: Worker): void => {
    this.#workers.delete(worker);
  };

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushSoon);
  }

  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  #flush(): void {
    const connected = this.#ingest.connected;
    if (connected !== this.#reportedConnected) {
      this.#reportedConnected = connected;
      this.#values.note(RecordTag.Connected, connected ? 1 : 0);
    }
    const received = this.#ingest.received;
    const outOfOrder = this.#ingest.outOfOrderLive;
    const overCap = this.#values.overCap;
    // Forged or early live messages change no value but are counted: the sweep sends their count.
    if (this.#values.pending === 0 && outOfOrder === this.#reportedOutOfOrder && overCap === this.#reportedOverCap) return;
    const batch: IngestBatch =
      outOfOrder === this.#reportedOutOfOrder && overCap === this.#reportedOverCap
        ? { type: INGEST_BATCH, r: this.#values.take(), n: received - this.#reportedReceived }
        : { type: INGEST_BATCH, r: this.#values.take(), n: received - this.#reportedReceived, o: outOfOrder - this.#reportedOutOfOrder, c: overCap - this.#reportedOverCap };
    this.#reportedReceived = received;
    this.#reportedOutOfOrder = outOfOrder;
    this.#reportedOverCap = overCap;
    for (const w of this.#workers) this.#send(w, batch);
  }

  #send(worker: Worker, msg: IngestState | IngestBatch): void {
    // A worker that is exiting has closed its channel; its successor will say hello.
    if (!worker.isConnected()) return;
    worker.send(msg, undefined, (err: Error | null) => {
      if (err !== null) this.#workers.delete(worker);
    });
  }
}
