import { INGEST_BATCH, INGEST_STATE, type IngestBatch, type IngestRecord, type IngestState } from "./ingest-records.js";

/**
 * Batches an IPC channel may hold unwritten (handed to `send`, not yet in the kernel's socket
 * buffer) before the worker behind it counts as behind. Node queues `child.send` without bound:
 * a worker that reads slower than the feed (starting, starved of CPU, stopped) would otherwise
 * pile up batches in the primary (0.2-1.4 MB of JSON each when the primary itself falls behind)
 * and then spend its event loop on that backlog, minutes of stale quotes, before anything new.
 */
export const MAX_IN_FLIGHT = 4;

/** Counters the node's ingest has reported to its workers so far (cumulative). */
export interface IngestTotals {
  /** Feed messages received. */
  readonly n: number;
  /** Live messages out of order. */
  readonly o: number;
  /** Quotes dropped for --max-feed-symbols. */
  readonly c: number;
  /** Feed messages dropped as invalid, per reason. */
  readonly invalid: Readonly<Record<string, number>>;
}

/** Where a worker stands once it has replayed what it was sent: enough to catch it up from there. */
export interface FeedMark {
  readonly position: number;
  readonly rebases: number;
  /** How many times the ingest had loaded (`Loaded` records) when the mark was taken. */
  readonly loads: number;
  readonly totals: IngestTotals;
}

/** What the node's ingest gives a WorkerFeed to build a catch-up message from. */
export interface FeedSource {
  /** Send what is pending to every worker (so that nothing pending precedes a catch-up). */
  flush(): void;
  /** The mark of the state right now (after a flush). */
  mark(): FeedMark;
  /** Records that take a worker at `since` (null: nothing yet) to `now`. */
  catchUpRecords(since: FeedMark | null, now: FeedMark): IngestRecord[];
}

/** Hand `msg` to the channel; `done` is called once it is written (or failed). */
export type SendFn = (msg: IngestState | IngestBatch, done: (err: Error | null) => void) => void;

/**
 * One worker's end of the shared ingest, in the primary: nothing before its hello, then the state,
 * then every batch while its channel keeps up. When MAX_IN_FLIGHT batches are still unwritten the
 * worker is behind: the batches that follow are not queued for it; once its channel has drained,
 * it gets one catch-up message instead (the values changed since its last batch, its position,
 * the counts it missed), which puts it exactly where the ingest is: same values, same position,
 * so the same event ids as every other worker. The latest value of each symbol is all a stream
 * needs (streams are conflated), so nothing a client can see is lost; the in-between values of a
 * symbol are, as they are for a client that is slower than the feed.
 */
export class WorkerFeed {
  readonly #send: SendFn;
  readonly #source: FeedSource;
  #inFlight = 0;
  /** Batches were skipped (or the state is not sent yet): the next message must be a catch-up. */
  #behind = true;
  #mark: FeedMark | null = null;
  #closed = false;
  /** Batches not sent to this worker because it was behind; catch-ups sent. */
  skipped = 0;
  catchUps = 0;

  constructor(send: SendFn, source: FeedSource) {
    this.#send = send;
    this.#source = source;
  }

  get behind(): boolean {
    return this.#behind;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The worker said hello: send it the whole state now. */
  start(): void {
    this.#catchUp();
  }

  /** The worker is gone: send nothing more. */
  close(): void {
    this.#closed = true;
  }

  /** A batch for every worker, and the mark the ingest reached with it. */
  offer(batch: IngestBatch, mark: FeedMark): void {
    if (this.#closed || this.#mark === null) return;
    if (this.#behind || this.#inFlight >= MAX_IN_FLIGHT) {
      this.#behind = true;
      this.skipped++;
      return;
    }
    this.#mark = mark;
    this.#write(batch);
  }

  #write(msg: IngestState | IngestBatch): void {
    this.#inFlight++;
    this.#send(msg, (err) => {
      this.#inFlight--;
      if (err !== null) {
        this.#closed = true;
        return;
      }
      if (this.#behind && this.#inFlight === 0 && !this.#closed) this.#catchUp();
    });
  }

  #catchUp(): void {
    if (this.#closed) return;
    // Pending records go out first (not to this worker: it is behind); the catch-up covers them.
    this.#behind = true;
    this.#source.flush();
    const now = this.#source.mark();
    const since = this.#mark;
    const r = this.#source.catchUpRecords(since, now);
    this.#behind = false;
    this.#mark = now;
    if (since === null) {
      this.#write({ type: INGEST_STATE, r, n: now.totals.n, o: now.totals.o, c: now.totals.c });
      return;
    }
    this.catchUps++;
    const msg: IngestBatch = { type: INGEST_BATCH, r, n: now.totals.n - since.totals.n, o: now.totals.o - since.totals.o, c: now.totals.c - since.totals.c };
    this.#write(msg);
  }
}
