import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../logger.js";
import { epochFromCreated } from "../stream/event-id.js";
import { ensureQuoteStream, QUOTE_STREAM } from "./quote-stream.js";
import { QUOTES_WILDCARD } from "./symbol.js";
import { validateQuote, type InvalidReason } from "./validate.js";
import type { LastValues } from "./last-values.js";

/** What the ingest tells the rest of the worker. Called synchronously, on the hot path. */
export interface IngestListener {
  /** A valid quote became the latest value of `sym`. */
  onQuote(sym: string): void;
  /** A message broke a feed rule and was dropped. */
  onInvalid(reason: InvalidReason): void;
  /** The stream has been read to its end once: the last values are complete. */
  onLoaded(epoch: string): void;
}

export interface IngestOptions {
  readonly servers: readonly string[];
  readonly maxQuoteBytes: number;
  readonly name: string;
}

/** Messages asked for per pull: large, so the consumer streams without waiting on round trips. */
const PULL_BATCH = 4096;

/**
 * NATS to last values. Reads the QUOTES stream with an ordered consumer that starts with the
 * last message of every subject (the snapshot) and then follows every new one, so that each
 * quote carries its stream sequence: the basis of event ids that agree across workers and nodes.
 * The ordered consumer recreates itself after a reconnect from where it stopped, so an outage
 * loses no latest value.
 */
export class FeedIngest {
  readonly #values: LastValues;
  readonly #listener: IngestListener;
  readonly #opts: IngestOptions;
  readonly #log: Logger;
  #nc: NatsConnection | null = null;
  #messages: ConsumerMessages | null = null;
  #connected = false;
  #loaded = false;
  #stopping = false;
  #epoch: string | null = null;
  /** Bumped on every (re)start of the consumer; messages of an older one are ignored. */
  #generation = 0;
  received = 0;

  constructor(values: LastValues, listener: IngestListener, opts: IngestOptions, log: Logger) {
    this.#values = values;
    this.#listener = listener;
    this.#opts = opts;
    this.#log = log;
  }

  /** Connected to NATS right now. */
  get connected(): boolean {
    return this.#connected;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Connect (retrying until NATS answers, so a server may start before NATS does), make sure
   * the stream exists, and start following it. Resolves once following has started.
   */
  async start(): Promise<void> {
    const nc = await this.#connectWithRetry();
    if (nc === null) return;
    this.#nc = nc;
    this.#connected = true;
    void this.#watchStatus(nc);
    await this.#follow(nc);
  }

  /**
   * (Re)start the ordered consumer: from the last message of every subject the first time, from
   * just after the last applied sequence on a restart. A pull whose server went away is only
   * noticed after missed heartbeats; restarting on reconnect makes recovery take a round trip
   * instead, so clients converge within a second or two of NATS coming back.
   */
  async #follow(nc: NatsConnection): Promise<void> {
    const generation = ++this.#generation;
    const old = this.#messages;
    this.#messages = null;
    await old?.close().catch(() => undefined);
    const info = await this.#retry("set up the quote stream", () => ensureQuoteStream(nc, this.#log));
    if (info === null || generation !== this.#generation) return;
    const epoch = epochFromCreated(info.created);
    if (this.#epoch !== null && epoch !== this.#epoch) {
      // The stream was recreated: its sequences started again, ours mean nothing there.
      this.#log.warn({ from: this.#epoch, to: epoch }, "the quote stream was recreated; reloading last values");
      this.#values.rebase();
      this.#loaded = false;
    }
    this.#epoch = epoch;
    const from = this.#loaded ? this.#values.highWater + 1 : null;
    const consumer = await this.#retry("create the quote consumer", () =>
      jetstream(nc).consumers.get(
        QUOTE_STREAM,
        from === null
          ? { filter_subjects: QUOTES_WILDCARD, deliver_policy: DeliverPolicy.LastPerSubject }
          : { filter_subjects: QUOTES_WILDCARD, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from },
      ),
    );
    if (consumer === null || generation !== this.#generation) return;
    if (!this.#loaded && (await consumer.info(true)).num_pending === 0) this.#markLoaded(epoch);
    this.#messages = await consumer.consume({
      max_messages: PULL_BATCH,
      // Notice a silent server within seconds rather than the default 30 s.
      expires: 5_000,
      idle_heartbeat: 1_000,
      callback: (m) => {
        if (generation === this.#generation) this.#onMessage(m, epoch);
      },
    });
    this.#log.info({ stream: QUOTE_STREAM, epoch, fromSeq: from ?? "last per subject" }, "following the quote stream");
  }

  /** Stop following and close the NATS connection, letting in-flight messages finish. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#generation++;
    const nc = this.#nc;
    this.#nc = null;
    try {
      await this.#messages?.close();
    } catch {
      // Already closed by a disconnect: nothing to release.
    }
    if (nc !== null && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close());
    }
    this.#connected = false;
  }

  #onMessage(m: JsMsg, epoch: string): void {
    this.received++;
    const r = validateQuote(m.subject, m.data, this.#opts.maxQuoteBytes);
    if (r.ok) {
      const q = r.quote;
      if (this.#values.apply(q.sym, q.json, m.seq, q.ts) !== undefined) this.#listener.onQuote(q.sym);
    } else {
      this.#values.advanceTo(m.seq);
      this.#listener.onInvalid(r.reason);
    }
    if (!this.#loaded && m.info.pending === 0) this.#markLoaded(epoch);
  }

  #markLoaded(epoch: string): void {
    this.#loaded = true;
    this.#log.info({ symbols: this.#values.size, streamSeq: this.#values.highWater }, "last values loaded");
    this.#listener.onLoaded(epoch);
  }

  async #connectWithRetry(): Promise<NatsConnection | null> {
    const servers = [...this.#opts.servers];
    let warned = false;
    while (!this.#stopping) {
      try {
        return await connect({
          servers,
          name: this.#opts.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          pingInterval: 5_000,
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
          this.#log.warn({ server: s.server }, "NATS disconnected");
          break;
        case "reconnect":
          this.#connected = true;
          this.#log.info({ server: s.server }, "NATS reconnected");
          if (!this.#stopping) void this.#follow(nc).catch((err: unknown) => this.#log.error({ err }, "could not follow the quote stream again"));
          break;
        default:
          break;
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
