import { setTimeout as sleep } from "node:timers/promises";
import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../log/logger.js";
import { ensureQuoteStream, epochFromCreated, JS_API_TIMEOUT_MS, LIVE_PREFIX, QUOTE_STREAM, republishesLive } from "./quote-stream.js";
import { QUOTES_WILDCARD } from "./symbol.js";
import { validateQuote, type InvalidReason } from "./validate.js";
import { streamSequence } from "./republish-header.js";
import { CatchUpProgress } from "./catch-up-progress.js";
import { streamReader } from "./gap-reader.js";
import { LiveGaps } from "./live-gaps.js";
import type { LastValue, LastValues } from "./last-values.js";

/** What the ingest tells the rest of the worker. Called synchronously, on the hot path. */
export interface IngestListener {
  /** A valid quote became the latest value of its symbol. */
  onQuote(value: LastValue): void;
  /** A message broke a feed rule and was dropped. */
  onInvalid(reason: InvalidReason): void;
  /** The stream has been read to its end once: the last values are complete. */
  onLoaded(epoch: string): void;
}

export interface IngestOptions {
  readonly servers: readonly string[];
  readonly maxQuoteBytes: number;
  readonly name: string;
  /** `--stream-replicas`: replicas when this worker creates the stream; undefined infers them. */
  readonly streamReplicas?: number | undefined;
  /** NATS credentials, when NATS requires them (default: none). */
  readonly user?: string | undefined;
  readonly pass?: string | undefined;
  /** Storage of the QUOTES stream if this ingest creates it (default file). */
  readonly streamStorage?: "file" | "memory";
}

/** Catch-ups read again, at most, when they end short of the stream leader's last sequence. */
const MAX_REREADS = 20;

/** How often a running catch-up checks its consumer, so that it ends even if no message comes. */
const CATCH_UP_CHECK_MS = 1_000;

/** Messages asked for per pull while catching up. */
const PULL_BATCH = 4096;

/**
 * How long one read of a gap may wait for its answer. A replica answers within milliseconds; one
 * that does not within a second is left to the catch-up consumer.
 */
const GAP_READ_TIMEOUT_MS = 1_000;

/**
 * NATS to last values, from two sources that agree on one order, the QUOTES stream's sequence:
 *
 * - live: a plain subscription to what the stream republishes (`qc.live.quotes.>`): every quote
 *   as soon as it is stored, with its stream sequence, at core NATS speed;
 * - catch-up: an ordered JetStream consumer, run at start (the last message of every subject: the
 *   snapshot) and after every reconnect (everything after the last sequence applied), until it
 *   reaches the end of the stream.
 *
 * The live feed is taken only in stream order. A live message ahead of the next sequence (quotes
 * missed while the connection moved to another NATS node) is a gap: it is read from the stream
 * one message at a time (src/ingest/gap-reader.ts), from any replica, which needs none of the
 * JetStream elections that a catch-up consumer waits for; a gap too large for that goes to the
 * catch-up consumer.
 *
 * Both may deliver the same symbol; `LastValues.apply` keeps whichever has the higher sequence, so
 * the latest value wins whatever arrives first. While a catch-up runs, event ids stay at the
 * position where it started: only then is "everything up to this id" true again.
 */
export class FeedIngest {
  readonly #values: LastValues;
  readonly #listener: IngestListener;
  readonly #opts: IngestOptions;
  readonly #log: Logger;
  #nc: NatsConnection | null = null;
  #live: Subscription | null = null;
  #catchUp: ConsumerMessages | null = null;
  #connected = false;
  #loaded = false;
  #stopping = false;
  #epoch: string | null = null;
  /** Catch-ups read again in a row because they ended before the stream leader's end. */
  #rereads = 0;
  /** Bumped on every catch-up; messages of an older one are ignored. */
  #generation = 0;
  /** Feed messages received, live or in a catch-up. */
  received = 0;
  /** Live messages not taken because they were not the next sequence (left to a JetStream read). */
  outOfOrderLive = 0;
  /** A catch-up is under way (or about to begin). */
  #catchingUp = false;
  /** Highest sequence a live message claimed out of order since the last catch-up began. */
  #liveAhead = 0;
  #lastRequested = Number.NEGATIVE_INFINITY;
  #catchUpCheck: NodeJS.Timeout | undefined;
  #deferred: NodeJS.Timeout | undefined;
  #jsm: JetStreamManager | null = null;
  /** Gaps in the live feed, read from the stream without a consumer (src/ingest/live-gaps.ts). */
  readonly #gaps: LiveGaps;

  constructor(values: LastValues, listener: IngestListener, opts: IngestOptions, log: Logger) {
    this.#values = values;
    this.#listener = listener;
    this.#opts = opts;
    this.#log = log;
    this.#gaps = new LiveGaps(
      {
        highWater: () => this.#values.highWater,
        apply: (m) => this.#apply(m.subject, m.data, m.seq),
        loaded: () => this.#loaded,
        fallBack: () => {
          if (this.#nc !== null) this.#requestCatchUp(this.#nc);
        },
      },
      log,
    );
  }

  /** Gaps in the live feed read from the stream directly (without a catch-up consumer). */
  get gapsRead(): number {
    return this.#gaps.read;
  }

  /** Connected to NATS right now. */
  get connected(): boolean {
    return this.#connected;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Connect (retrying until NATS answers, so a server may start before NATS does), make sure the
   * stream exists, subscribe to the live feed, then load the last values. Resolves once loading
   * has started.
   */
  async start(): Promise<void> {
    const nc = await this.#connectWithRetry();
    if (nc === null) return;
    this.#nc = nc;
    this.#connected = true;
    this.#log.info({ server: nc.getServer() }, "connected to NATS");
    this.#jsm = await jetstreamManager(nc, { timeout: GAP_READ_TIMEOUT_MS, checkAPI: false });
    void this.#watchStatus(nc);
    // Live first, so nothing published while the last values load falls between the two.
    this.#live = nc.subscribe(LIVE_PREFIX + QUOTES_WILDCARD, { callback: this.#onLive });
    this.#runCatchUp(nc);
  }

  /** Stop following and close the NATS connection, letting in-flight messages finish. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#generation++;
    this.#gaps.drop();
    clearInterval(this.#catchUpCheck);
    clearTimeout(this.#deferred);
    const nc = this.#nc;
    this.#nc = null;
    this.#live?.unsubscribe();
    await this.#catchUp?.close().catch(() => undefined);
    if (nc !== null && !nc.isClosed()) await nc.drain().catch(() => nc.close());
    this.#connected = false;
  }

  readonly #onLive = (err: Error | null, m: Msg): void => {
    if (err !== null) return;
    const seq = streamSequence(m);
    // Not from the stream's republish (someone published here by hand): it has no place in the order.
    if (seq === 0) return;
    // Anyone allowed to publish on qc.live.> can write any Nats-Sequence header: one forged
    // 999999999999 went to every client and froze every id (issue 17, item 9). So the live feed
    // is taken only in stream order, the next sequence after the last applied; anything else is
    // read from JetStream instead (a gap read or a consumer), which gives only what the stream stored.
    if (seq !== this.#values.highWater + 1) {
      this.outOfOrderLive++;
      if (seq > this.#liveAhead) this.#liveAhead = seq;
      // Ahead: quotes were missed. Read them from the stream (which holds only what it stored, so
      // a forged sequence gets nothing in) and take the live feed again once they are applied.
      if (seq > this.#values.highWater && this.#gaps.readTo(seq)) return;
      if (this.#nc !== null) this.#requestCatchUp(this.#nc);
      return;
    }
    this.#apply(m.subject.slice(LIVE_PREFIX.length), m.data, seq);
  };

  #apply(subject: string, data: Uint8Array, seq: number): void {
    this.received++;
    const r = validateQuote(subject, data, this.#opts.maxQuoteBytes);
    if (r.ok) {
      const q = r.quote;
      const applied = this.#values.apply(q.sym, q.json, seq, q.ts);
      if (applied !== undefined) this.#listener.onQuote(applied);
    } else {
      this.#values.advanceTo(seq);
      this.#listener.onInvalid(r.reason);
    }
  }

  /**
   * Read the stream from where this worker's knowledge ends to the stream's end: from the last
   * message of every subject the first time, from just after the last sequence applied after a
   * reconnect (messages published during an outage never reached the live subscription).
   */
  async #startCatchUp(nc: NatsConnection): Promise<void> {
    const generation = ++this.#generation;
    this.#catchingUp = true;
    this.#liveAhead = 0;
    clearInterval(this.#catchUpCheck);
    const old = this.#catchUp;
    this.#catchUp = null;
    await old?.close().catch(() => undefined);
    const info = await this.#retry("set up the quote stream", () => ensureQuoteStream(nc, this.#log, { replicas: this.#opts.streamReplicas, storage: this.#opts.streamStorage }));
    if (info === null || generation !== this.#generation) return;
    const epoch = epochFromCreated(info.created);
    if (this.#epoch !== null && epoch !== this.#epoch) {
      // The stream was recreated: its sequences started again, ours mean nothing there.
      this.#log.warn({ from: this.#epoch, to: epoch }, "the quote stream was recreated; reloading last values");
      this.#values.rebase();
      this.#loaded = false;
      this.#gaps.drop(true);
    }
    this.#epoch = epoch;
    // A stream that does not republish is followed by this consumer for good, not just caught up with.
    const keepFollowing = !republishesLive(info);
    // After the position ids may claim, not the high-water mark: a catch-up cut short by another
    // disconnect left a gap below the mark, which this one must cover.
    const from = this.#loaded ? this.#values.position + 1 : null;
    this.#values.holdPosition(from === null ? 0 : from - 1);
    // The epoch is checked: gaps in the live feed can be read from the stream from now on, while
    // the consumer below is being created (which can take seconds: it needs JetStream's leaders).
    if (!keepFollowing && this.#jsm !== null) this.#gaps.use(streamReader(this.#jsm, info.config.allow_direct === true));
    const consumer = await this.#retry("create the catch-up consumer", () =>
      jetstream(nc, { timeout: JS_API_TIMEOUT_MS }).consumers.get(
        QUOTE_STREAM,
        from === null
          ? { filter_subjects: QUOTES_WILDCARD, deliver_policy: DeliverPolicy.LastPerSubject }
          : { filter_subjects: QUOTES_WILDCARD, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from },
      ),
    );
    if (consumer === null || generation !== this.#generation) return;
    let caughtUp = false;
    // The stream's end as its leader reported it before this read began. An R1 consumer may be
    // placed on a replica that has not caught up yet (a NATS node that just rejoined), whose
    // "no more pending" comes early: a snapshot from it would miss the newest quotes.
    const progress = new CatchUpProgress(from === null ? 0 : from - 1, info.state.last_seq);
    const stopReading = (): void => {
      this.#generation++;
      clearInterval(this.#catchUpCheck);
      const messages = this.#catchUp;
      this.#catchUp = null;
      void messages?.close().catch(() => undefined);
    };
    const readAgain = (why: string): void => {
      if (generation !== this.#generation || caughtUp) return;
      // Bounded: a purge can leave the leader's last sequence pointing at a message no longer there.
      if (this.#rereads >= MAX_REREADS) {
        this.#log.warn({ readTo: progress.readTo, leaderEnd: progress.leaderEnd, rereads: this.#rereads }, "the catch-up ended short of the stream's end after every re-read; taking what it read");
        finish();
        return;
      }
      this.#rereads++;
      this.#log.warn({ readTo: progress.readTo, leaderEnd: progress.leaderEnd, attempt: this.#rereads }, `${why}; reading again`);
      stopReading();
      setTimeout(() => {
        this.#runCatchUp(nc);
      }, 250).unref();
    };
    const finish = (): void => {
      if (generation !== this.#generation || caughtUp) return;
      caughtUp = true;
      this.#rereads = 0;
      this.#catchingUp = false;
      if (keepFollowing) clearInterval(this.#catchUpCheck);
      else stopReading();
      this.#values.releasePosition();
      this.#log.info({ symbols: this.#values.size, streamSeq: this.#values.highWater, from: from ?? "last per subject" }, "caught up with the quote stream");
      if (!this.#loaded) {
        this.#loaded = true;
        this.#listener.onLoaded(epoch);
      }
      // Live quotes that came ahead of the read were left to JetStream: read them now.
      if (this.#liveAhead > this.#values.highWater && !keepFollowing) this.#requestCatchUp(nc);
    };
    if ((await consumer.info(true)).num_pending === 0 && progress.leaderEnd <= progress.readTo) {
      finish();
      if (!keepFollowing) return;
    }
    // The end must come whether or not another message arrives: checked every second against
    // what the consumer says it sent (see CatchUpProgress).
    clearInterval(this.#catchUpCheck);
    this.#catchUpCheck = setInterval(() => {
      if (generation !== this.#generation || caughtUp) return;
      // A consumer that cannot even say how far it is (gone with a NATS node that hangs) counts
      // as one with nothing more to send: without progress, the read starts again.
      void consumer.info(false).then(
        (ci) => ({ pending: ci.num_pending, delivered: ci.delivered.stream_seq }),
        () => ({ pending: 0, delivered: progress.readTo }),
      ).then((c) => {
        if (generation !== this.#generation || caughtUp) return;
        const verdict = progress.check(c);
        if (verdict === "done") finish();
        else if (verdict === "read-again") readAgain("the catch-up consumer sends nothing more, short of the stream's end");
      });
    }, CATCH_UP_CHECK_MS);
    this.#catchUpCheck.unref();
    const messages = await consumer.consume({
      max_messages: PULL_BATCH,
      // Notice a silent server within seconds rather than the default 30 s.
      expires: 5_000,
      idle_heartbeat: 1_000,
      callback: (m: JsMsg) => {
        if (generation !== this.#generation) return;
        this.#apply(m.subject, m.data, m.seq);
        progress.delivered(m.seq);
        if (caughtUp) return;
        if (progress.complete) finish();
        else if (m.info.pending === 0) readAgain("the catch-up read a stream replica behind its leader");
      },
    });
    // Messages may arrive before consume() resolves: if the catch-up already finished (or was
    // superseded), this consumer must not keep pulling the whole feed a second time.
    if (generation !== this.#generation) void messages.close().catch(() => undefined);
    else this.#catchUp = messages;
  }

  /**
   * Start a catch-up in the background. One that fails (a JetStream request timing out while NATS
   * elects or a node hangs) is started again a second later unless a newer one took its place:
   * left failed, no later live message out of order would be read from JetStream.
   */
  #runCatchUp(nc: NatsConnection): void {
    if (this.#stopping) return;
    this.#catchingUp = true;
    void this.#startCatchUp(nc).catch((err: unknown) => {
      this.#log.error({ err }, "could not catch up with the quote stream; trying again in a second");
      const generation = this.#generation;
      setTimeout(() => {
        if (generation === this.#generation) this.#runCatchUp(nc);
      }, 1_000).unref();
    });
  }

  /**
   * A live message out of order asks for a read from JetStream: at most one catch-up at a time
   * and one start every CATCH_UP_CHECK_MS (forged messages cannot start a storm of them); a
   * request inside that window is deferred to its end, never dropped.
   */
  #requestCatchUp(nc: NatsConnection): void {
    if (this.#catchingUp || this.#stopping || !this.#connected || this.#deferred !== undefined) return;
    const wait = this.#lastRequested + CATCH_UP_CHECK_MS - performance.now();
    if (wait > 0) {
      this.#deferred = setTimeout(() => {
        this.#deferred = undefined;
        this.#requestCatchUp(nc);
      }, wait);
      this.#deferred.unref();
      return;
    }
    this.#lastRequested = performance.now();
    this.#runCatchUp(nc);
  }

  async #connectWithRetry(): Promise<NatsConnection | null> {
    const servers = [...this.#opts.servers];
    let warned = false;
    while (!this.#stopping) {
      try {
        return await connect({
          servers,
          name: this.#opts.name,
          ...(this.#opts.user === undefined ? {} : { user: this.#opts.user, pass: this.#opts.pass ?? "" }),
          // The list is an order of preference: each node lists its own (nearest) NATS server
          // first, so nodes spread over the cluster rather than all landing where nats.js's
          // shuffle puts them. After a failure the client tries that server once more, then the next ones.
          noRandomize: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          // A NATS node that hangs (its sockets open, nothing answering) is noticed by ping: two
          // unanswered pings 3 s apart. And a server that accepts TCP but does not complete the
          // handshake within 3 s is skipped: the default 20 s kept a node on a frozen server
          // (seen: 33 s of frozen prices instead of ~10).
          pingInterval: 3_000,
          maxPingOut: 2,
          timeout: 3_000,
        });
      } catch (err) {
        if (!warned) {
          this.#log.warn({ servers, err: (err as Error).message }, "NATS is not reachable yet; retrying every second");
          warned = true;
        }
        await sleep(1000);
      }
    }
    return null;
  }

  async #retry<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    let warned = false;
    while (!this.#stopping) {
      try {
        return await fn();
      } catch (err) {
        if (!warned) {
          this.#log.warn({ err: (err as Error).message }, `could not ${what}; retrying every second`);
          warned = true;
        }
        await sleep(1000);
      }
    }
    return null;
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          this.#connected = false;
          // Until a catch-up checks the stream again (see LiveGaps).
          this.#gaps.drop();
          this.#log.warn({ server: s.server }, "NATS disconnected");
          break;
        case "reconnect":
          this.#connected = true;
          this.#log.info({ server: s.server }, "NATS reconnected; catching up with the quote stream");
          // The live subscription is renewed by the client; what was published meanwhile is not.
          this.#runCatchUp(nc);
          break;
        default:
          break;
      }
    }
  }
}
