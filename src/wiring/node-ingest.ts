import { sharedIngest, type ServeConfig } from "../config/serve-config.js";
import type { IngestOptions } from "../ingest/ingest.js";
import { NodeIngest } from "../ingest/node-ingest.js";
import type { Logger } from "../log/logger.js";

/** The NATS reader's options from serve's configuration: the same for a worker's reader and the node's. */
export function ingestOptions(cfg: ServeConfig): IngestOptions {
  return { servers: cfg.natsServers, maxQuoteBytes: cfg.maxQuoteBytes, name: `quotecast-${process.pid}`, streamReplicas: cfg.streamReplicas, streamStorage: cfg.streamStorage, user: cfg.natsUser, pass: cfg.natsPassword };
}

/**
 * When the ingest is shared (`--ingest shared`, or `auto` with two or more workers), the
 * node's one NATS reader, which the primary runs for its workers
 * (docs/ingest.md); null otherwise. Not started: the primary starts it before forking.
 */
export function createNodeIngest(cfg: ServeConfig, log: Logger): NodeIngest | null {
  return sharedIngest(cfg) ? new NodeIngest(ingestOptions(cfg), log.child({ component: "ingest" }), cfg.maxFeedSymbols) : null;
}
