import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ensureQuoteStream } from "../ingest/quote-stream.js";
import type { Logger } from "../log/logger.js";

/** No NATS server answered at the configured URLs. */
export class NatsUnavailableError extends Error {
  override readonly name = "NatsUnavailableError";

  constructor(
    readonly servers: readonly string[],
    options: { cause: unknown },
  ) {
    super(
      `cannot connect to NATS at ${servers.join(", ")} (${describe(options.cause)}): ` +
        `a nats-server with JetStream must be running there (e.g. "nats-server -js"), ` +
        `or point --nats / NATS_URL at one`,
      options,
    );
  }
}

/** NATS answered but the last-value stream could not be found or created. */
export class QuoteStreamUnavailableError extends Error {
  override readonly name = "QuoteStreamUnavailableError";

  constructor(
    readonly servers: readonly string[],
    options: { cause: unknown },
  ) {
    super(
      `connected to NATS at ${servers.join(", ")} but could not set up the last-value quote stream ` +
        `(${describe(options.cause)}): the server must have JetStream enabled ("nats-server -js")`,
      options,
    );
  }
}

/**
 * Connect the feed and make sure the last-value stream exists before the first quote, so no
 * early quote misses the snapshot. Once connected, the feed rides out NATS restarts: it keeps
 * reconnecting rather than exiting, as a simulator left running under `npm start` should.
 */
export async function connectFeed(servers: readonly string[], log: Logger, streamReplicas?: number): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    // The list is an order of preference, as for the servers (see src/ingest/ingest.ts).
    nc = await connect({ servers: [...servers], name: "quotecast-feed", noRandomize: true, maxReconnectAttempts: -1 });
  } catch (err) {
    throw new NatsUnavailableError(servers, { cause: err });
  }
  try {
    await ensureQuoteStream(nc, log, { replicas: streamReplicas });
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new QuoteStreamUnavailableError(servers, { cause: err });
  }
  return nc;
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
