import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager, type StreamInfo, RetentionPolicy, StorageType, DiscardPolicy } from "@nats-io/jetstream";
import { QUOTES_WILDCARD } from "./symbol.js";
import type { Logger } from "../logger.js";

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
 * Create the last-value stream when it is missing; the server and the feed both call this,
 * whichever starts first wins and the other finds it. On a NATS cluster it is replicated
 * (up to 3 replicas) so that losing one node loses no last value and no resume id.
 */
export async function ensureQuoteStream(nc: NatsConnection, log: Logger, storage: "file" | "memory" = "file"): Promise<StreamInfo> {
  const jsm = await jetstreamManager(nc);
  try {
    const info = await jsm.streams.info(QUOTE_STREAM);
    if (republishesLive(info)) return info;
    // A stream made before servers followed the republished feed: add it, keep the data.
    try {
      const updated = await jsm.streams.update(QUOTE_STREAM, { ...info.config, republish: REPUBLISH });
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
    if (!isNotFound(err)) throw err;
  }
  const replicas = Math.min(3, clusterSize(nc));
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

/** Whether servers can follow this stream's live feed by subscription (else with a consumer). */
export function republishesLive(info: StreamInfo): boolean {
  return info.config.republish?.dest === REPUBLISH.dest;
}

/** Servers in the cluster the connection belongs to, as far as the INFO it got tells. */
function clusterSize(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  const urls = new Set(info.connect_urls ?? []);
  return Math.max(1, urls.size);
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || e?.code === "404" || /stream not found/i.test(e?.message ?? "");
}
