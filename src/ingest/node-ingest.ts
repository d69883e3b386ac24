import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../log/logger.js";
import { FeedIngest, type IngestOptions } from "./ingest.js";
import { INGEST_BATCH, INGEST_HELLO, RecordTag, type IngestBatch, type IngestRecord, type IngestState } from "./ingest-records.js";
import { RecordingLastValues } from "./recording-last-values.js";
import { WorkerFeed, type FeedMark, type FeedSource, type IngestTotals } from "./worker-feed.js";

/** How often the primary checks for records no quote scheduled a send for (catch-up marks, connection state). */
const SWEEP_MS = 25;

/**
 * One ingest for the whole node (`--ingest shared`), run by the primary: it reads NATS once
 * (FeedIngest, unchanged: live subscription, catch-ups, resume positions) and hands every worker
 * what changed, in batches over the cluster's IPC channel, instead of each worker taking the full
 * feed from NATS and parsing every quote itself. A worker that starts (or restarts) asks with
 * `INGEST_HELLO` and first gets the whole state, then every batch after it, so it holds the same
 * values and positions, and makes the same event ids, as if it read the stream itself. Nothing is
 * sent to a worker before its hello, and never more than a few unwritten batches: a worker that
 * falls behind is caught up with one message of what changed instead (worker-feed.ts).
 *
 * A batch goes out once the event loop has handled what NATS delivered in one read (setImmediate):
 * at 100k quotes/s that is a few hundred quotes per batch, and no quote waits for a timer.
 */
export class NodeIngest implements FeedSource {
  readonly #values: RecordingLastValues;
  readonly #ingest: FeedIngest;
  readonly #workers = new Map<Worker, WorkerFeed>();
  readonly #log: Logger;
  #epoch: string | null = null;
  #loads = 0;
  #retiredSkipped = 0;
  #retiredCatchUps = 0;
  #reportedConnected = false;
  /** What the workers have been told so far (what the last batch brought them to). */
  #reported: IngestTotals = { n: 0, o: 0, c: 0, invalid: {} };
  /** Invalid feed messages so far, per reason (counted as they come; reported with each batch). */
  readonly #invalid: Record<string, number> = {};
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
          this.#invalid[reason] = (this.#invalid[reason] ?? 0) + 1;
          this.#values.note(RecordTag.Invalid, reason);
          this.#schedule();
        },
        onLoaded: (epoch) => {
          this.#epoch = epoch;
          this.#loads++;
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
    this.#sweep = setInterval(() => this.flush(), SWEEP_MS);
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
    this.#onExit(worker);
    const feed = new WorkerFeed((m, done) => this.#send(worker, m, done), this);
    this.#workers.set(worker, feed);
    feed.start();
    // With the worker's "worker serving" and "ingest state applied", where a start spends its time.
    this.#log.info({ worker: worker.id, symbols: this.#values.size, position: this.#values.position }, "sent the ingest state to a worker");
  };

  /** Batches not sent to workers that were behind, and the catch-ups sent instead (ever, all workers). */
  get skipped(): number {
    let n = this.#retiredSkipped;
    for (const f of this.#workers.values()) n += f.skipped;
    return n;
  }

  get catchUps(): number {
    let n = this.#retiredCatchUps;
    for (const f of this.#workers.values()) n += f.catchUps;
    return n;
  }

  readonly #onExit = (worker: Worker): void => {
    const feed = this.#workers.get(worker);
    if (feed === undefined) return;
    feed.close();
    this.#retiredSkipped += feed.skipped;
    this.#retiredCatchUps += feed.catchUps;
    this.#workers.delete(worker);
  };

  /** Workers fed, and how many of them are behind right now (for tests and diagnostics). */
  get feeds(): ReadonlyMap<Worker, WorkerFeed> {
    return this.#workers;
  }

  mark(): FeedMark {
    return { position: this.#values.position, rebases: this.#values.rebases, loads: this.#loads, totals: this.#reported };
  }

  catchUpRecords(since: FeedMark | null, now: FeedMark): IngestRecord[] {
    const loaded = this.#ingest.loaded ? this.#epoch : null;
    // `loaded` again only when the worker has not heard it (or lost it to a rebase it missed).
    const epoch = since === null || since.loads !== now.loads || since.rebases !== now.rebases ? loaded : null;
    const r = this.#values.catchUpRecords(since, epoch, this.#reportedConnected);
    if (since !== null) {
      for (const reason in now.totals.invalid) {
        const missed = now.totals.invalid[reason]! - (since.totals.invalid[reason] ?? 0);
        if (missed > 0) r.push(RecordTag.Invalids, reason, missed);
      }
    }
    return r;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushSoon);
  }

  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  flush(): void {
    const connected = this.#ingest.connected;
    if (connected !== this.#reportedConnected) {
      this.#reportedConnected = connected;
      this.#values.note(RecordTag.Connected, connected ? 1 : 0);
    }
    const was = this.#reported;
    const received = this.#ingest.received;
    const outOfOrder = this.#ingest.outOfOrderLive;
    const overCap = this.#values.overCap;
    // Forged or early live messages change no value but are counted: the sweep sends their count.
    if (this.#values.pending === 0 && outOfOrder === was.o && overCap === was.c) return;
    const batch: IngestBatch =
      outOfOrder === was.o && overCap === was.c
        ? { type: INGEST_BATCH, r: this.#values.take(), n: received - was.n }
        : { type: INGEST_BATCH, r: this.#values.take(), n: received - was.n, o: outOfOrder - was.o, c: overCap - was.c };
    this.#reported = { n: received, o: outOfOrder, c: overCap, invalid: { ...this.#invalid } };
    const mark = this.mark();
    for (const feed of this.#workers.values()) feed.offer(batch, mark);
  }

  #send(worker: Worker, msg: IngestState | IngestBatch, done: (err: Error | null) => void): void {
    // A worker that is exiting has closed its channel; its successor will say hello.
    if (!worker.isConnected()) {
      done(new Error("worker disconnected"));
      return;
    }
    worker.send(msg, undefined, done);
  }
}
