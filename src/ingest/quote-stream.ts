import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo, RetentionPolicy, StorageType, DiscardPolicy } from "@nats-io/jetstream";
import { QUOTES_WILDCARD } from "./symbol.js";
import type { Logger } from "../log/logger.js";
import { stableCreated } from "./stream-created.js";

/** The JetStream stream that keeps the last quote of every `quotes.<SYMBOL>` subject. */
export const QUOTE_STREAM = "QUOTES";

/**
 * The stream republishes every message it stores under this prefix (`qc.live.quotes.AAPL`), with
 * its stream sequence in the `Nats-Sequence` header. Servers follow the live feed there with a
 * plain subscription: every quote, in stream order, at core NATS speed, each with the sequence
 * that event ids are made of. (A JetStream consumer on the file store fell behind at 50k/s here.)
 */
export const LIVE_PREFIX = "qc.live.";

/**
 * How long a JetStream API request (stream info, consumer create) may wait. nats.js waits 5 s by
 * default, and a request sent while a NATS node is gone and the stream's leader is being elected
 * is never answered: it held a catch-up that long after the election ended, while the worker's
 * clients got no quote. Failed requests are retried every second, so a short wait costs nothing.
 */
export const JS_API_TIMEOUT_MS = 2_000;

export interface QuoteStreamOptions {
  /**
   * Replicas when this process creates the stream (`--stream-replicas`); always wins over the
   * inference, which cannot see a cluster whose servers do not advertise (the official Helm
   * chart's `no_advertise: true`). Default: the servers the connection can see, at most 3.
   */
  readonly replicas?: number | undefined;
  /** Storage when this process creates the stream (`--stream-storage`, default file; docs/ingest.md). */
  readonly storage?: "file" | "memory" | undefined;
}

/**
 * Create the last-value stream when it is missing; the server and the feed both call this,
 * whichever starts first wins and the other finds it. On a NATS cluster it is replicated
 * (up to 3 replicas) so that losing one node loses no last value and no resume id. Logs the
 * replicas the stream actually has, and warns when they are fewer than they should be.
 */
export async function ensureQuoteStream(nc: NatsConnection, log: Logger, opts: QuoteStreamOptions = {}): Promise<StreamInfo> {
  const info = await ensureStream(nc, log, opts.replicas, opts.storage ?? "file");
  reportReplicas(info, clusterSize(nc), opts.replicas, log);
  return info;
}

async function ensureStream(nc: NatsConnection, log: Logger, wanted: number | undefined, storage: "file" | "memory"): Promise<StreamInfo> {
  // No account-info request first (nats.js's checkAPI): only JetStream's meta leader answers it,
  // and after a NATS node is lost the meta group may spend seconds electing one, while the
  // stream's own leader answers `streams.info` throughout. Without JetStream, that fails anyway.
  const jsm = await jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS, checkAPI: false });
  // Event ids carry the stream's creation time: every answer must hold the real one.
  return stableCreated(await findOrCreate(jsm, nc, log, wanted, storage), () => jsm.streams.info(QUOTE_STREAM));
}

async function findOrCreate(jsm: JetStreamManager, nc: NatsConnection, log: Logger, wanted: number | undefined, storage: "file" | "memory"): Promise<StreamInfo> {
  try {
    const info = await jsm.streams.info(QUOTE_STREAM);
    if (republishesLive(info)) return info.config.allow_direct === true ? info : await allowDirect(jsm, info, log);
    // A stream made before servers followed the republished feed: add it, keep the data.
    try {
      const updated = await jsm.streams.update(QUOTE_STREAM, { ...info.config, republish: REPUBLISH, allow_direct: true });
      log.info({ stream: QUOTE_STREAM, republish: REPUBLISH.dest }, "the quote stream now republishes for live followers");
      return updated;
    } catch (err) {
      // nats-server 2.9 refuses to add republish to an existing stream. Servers then follow the
      // stream with a JetStream consumer, which is slower under a heavy feed (see README).
      log.warn(
        { stream: QUOTE_STREAM, err: (err as Error).message },
        `the quote stream was created without live republishing, which nats-server cannot add to an existing stream; servers follow it with a consumer instead, slower under a heavy feed. For full speed: nats stream rm ${QUOTE_STREAM}, then restart (quotecast recreates it)`,
      );
      return info;
    }
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  const replicas = wanted ?? Math.min(3, clusterSize(nc));
  try {
    const info = await createStream(jsm, replicas, storage);
    log.info({ stream: QUOTE_STREAM, replicas }, "created the last-value quote stream");
    return info;
  } catch (err) {
    // Another process may have created it between our lookup and our create.
    try {
      return await jsm.streams.info(QUOTE_STREAM);
    } catch {
      throw err;
    }
  }
}

function createStream(jsm: JetStreamManager, replicas: number, storage: "file" | "memory"): Promise<StreamInfo> {
  return jsm.streams.add({
    name: QUOTE_STREAM,
    subjects: [QUOTES_WILDCARD],
    retention: RetentionPolicy.Limits,
    // Only the latest quote of each symbol matters: older ones are discarded as new ones land.
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    // Memory takes about twice the feed rate of file on the same machine, and loses the last
    // values when every replica's NATS server restarts (docs/ingest.md).
    storage: storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: replicas,
    allow_direct: true,
    republish: REPUBLISH,
  });
}

const REPUBLISH = { src: QUOTES_WILDCARD, dest: LIVE_PREFIX + QUOTES_WILDCARD };

/**
 * A stream made without `allow_direct` (by hand, or by an older quotecast): turn it on, which
 * nats-server 2.9 allows on an existing stream. With it any replica answers the reads of a gap in
 * the live feed (src/ingest/gap-reader.ts); without it only the stream leader does, and not while
 * JetStream elects a meta leader. Not fatal either way: the caller goes on with what it has.
 */
async function allowDirect(jsm: JetStreamManager, info: StreamInfo, log: Logger): Promise<StreamInfo> {
  try {
    const updated = await jsm.streams.update(QUOTE_STREAM, { ...info.config, allow_direct: true });
    log.info({ stream: QUOTE_STREAM }, "the quote stream now allows direct gets, so any replica can answer the reads of a gap in the live feed");
    return updated;
  } catch (err) {
    log.warn(
      { stream: QUOTE_STREAM, err: (err as Error).message },
      `the quote stream does not allow direct gets and could not be changed: gaps in the live feed are read from the stream leader, and wait for JetStream's elections after a NATS node is lost. To fix: nats stream edit ${QUOTE_STREAM} --allow-direct`,
    );
    return info;
  }
}

/** Whether servers can follow this stream's live feed by subscription (else with a consumer). */
export function republishesLive(info: StreamInfo): boolean {
  return info.config.republish?.dest === REPUBLISH.dest;
}

/**
 * One line with the stream's actual replicas; a warning when they are fewer than asked for, or
 * (nothing asked) fewer than the servers visible, up to 3: losing the node that holds a
 * single replica loses every last value and resume id. A cluster whose servers do not advertise
 * looks like one server here, which is why `--stream-replicas` exists.
 */
export function reportReplicas(info: StreamInfo, visibleServers: number, wanted: number | undefined, log: Logger): void {
  const replicas = info.config.num_replicas ?? 1;
  const fields = { stream: QUOTE_STREAM, replicas, wanted: wanted ?? null, visibleServers };
  if (wanted !== undefined && replicas < wanted) {
    log.warn(fields, `the quote stream has ${replicas} replica(s), fewer than --stream-replicas ${wanted}: it was created before with fewer; raise them with: nats stream edit ${QUOTE_STREAM} --replicas ${wanted}`);
  } else if (wanted === undefined && replicas < Math.min(3, visibleServers)) {
    log.warn(fields, `the quote stream has ${replicas} replica(s) while ${visibleServers} NATS servers are visible: losing one node can lose last values and resume ids; set --stream-replicas, or: nats stream edit ${QUOTE_STREAM} --replicas ${Math.min(3, visibleServers)}`);
  } else {
    log.info(fields, "quote stream replicas");
  }
}

/** Servers in the cluster the connection belongs to, as far as the INFO it got tells. */
function clusterSize(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  const urls = new Set(info.connect_urls ?? []);
  return Math.max(1, urls.size);
}

/**
 * Whether a JetStream API call failed because the stream does not exist: by the server's error
 * code (10059), never by the text of its description, which servers may word differently.
 */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * The QUOTES stream's epoch, the first part of every event id (src/fanout/event-id.ts): its creation
 * time in milliseconds, base 36 (short, and the same everywhere). A JetStream fact, so it is read here.
 */
export function epochFromCreated(created: string): string {
  const ms = Date.parse(created);
  if (!Number.isFinite(ms)) throw new Error(`stream creation time is not a date: ${created}`);
  return ms.toString(36);
}
