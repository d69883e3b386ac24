import { randomInt } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { NatsConnection } from "@nats-io/transport-node";
import { ensureQuoteStream } from "../ingest/quote-stream.js";
import { FEED_USAGE, parseFeedArgs, type FeedConfig } from "./feed-config.js";
import { flushLogger, logger, type Logger } from "../log/logger.js";
import { connectFeed } from "./feed-connection.js";
import { BatchPublisher } from "./batch-publisher.js";
import { PACER_TICK_MS, Pacer } from "./pacer.js";
import { QuoteGenerator, type QuoteSink } from "./quote-generator.js";
import { MAX_SEED } from "./rng.js";
import { generateUniverse } from "./universe.js";

const REPORT_INTERVAL_MS = 10_000;

/**
 * `quotecast feed`: publish simulated quotes to NATS until `--duration` elapses or SIGINT /
 * SIGTERM arrives, then drain the connection and resolve 0. Throws ConfigError on bad
 * arguments, NatsUnavailableError / QuoteStreamUnavailableError when NATS cannot be used.
 */
export async function runFeed(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = parseFeedArgs(argv, env);
  if (config.help) {
    process.stdout.write(FEED_USAGE);
    return 0;
  }
  return runFeedWith(config, logger.child({ component: "feed" }));
}

/** The feed for an already-parsed config; resolves with the process exit code. */
export async function runFeedWith(config: FeedConfig, log: Logger): Promise<number> {
  const symbols = config.universe.kind === "list" ? config.universe.symbols : generateUniverse(config.universe.count);
  const seed = config.seed ?? randomInt(0, MAX_SEED + 1);
  const generator = new QuoteGenerator(symbols, config.rate, seed, config.mix);
  const nc = await connectFeed(config.servers, log, config.streamReplicas);

  log.info(
    {
      servers: config.servers,
      symbolCount: symbols.length,
      symbols: symbols.length <= 20 ? symbols : [...symbols.slice(0, 20), "…"],
      rate: config.rate,
      durationSec: config.durationSec,
      // Logged even when chosen at random: it is what reproduces this run's prices.
      seed,
      mix: config.mix,
    },
    "feed started",
  );
  return publishUntilStopped(nc, generator, config, log);
}

function publishUntilStopped(nc: NatsConnection, generator: QuoteGenerator, config: FeedConfig, log: Logger): Promise<number> {
  return new Promise<number>((resolve) => {
    const startMs = performance.now();
    const limit = config.durationSec === null ? undefined : Math.floor(config.rate * config.durationSec);
    const pacer = new Pacer(config.rate, startMs, limit === undefined ? {} : { limit });
    // A pacer tick's quotes go out as one write (batch-publisher.ts): what lets one process publish 200k/s.
    const batch = new BatchPublisher(nc);
    const sink: QuoteSink = (subject, payload) => batch.add(subject, payload);

    let connected = true;
    let stopping = false;
    // Quotes the schedule released while NATS was unreachable: dropped, not queued, so a
    // reconnect is not followed by a flood of stale prices.
    let dropped = 0;
    let published = 0;
    let windowStartMs = startMs;
    let windowPublished = 0;

    const tick = (): void => {
      if (stopping) return;
      const n = pacer.due(performance.now());
      if (n > 0) {
        if (connected) {
          try {
            generator.emit(n, Date.now(), sink);
            batch.flush();
            published += n;
          } catch (err) {
            // Only a closed connection or an invalid subject can throw here; neither heals.
            void stop("publish failed", 1, err);
            return;
          }
        } else {
          dropped += n;
        }
      }
      if (pacer.finished) void stop("duration reached", 0);
    };

    const report = (final: boolean): void => {
      const now = performance.now();
      const seconds = (now - windowStartMs) / 1000;
      const windowCount = published - windowPublished;
      log.info(
        {
          published: windowCount,
          seconds: round1(seconds),
          achievedRate: seconds > 0 ? Math.round(windowCount / seconds) : 0,
          targetRate: config.rate,
          total: published,
          skipped: pacer.skipped,
          dropped,
        },
        final ? "feed rate (last window)" : "feed rate",
      );
      windowStartMs = now;
      windowPublished = published;
    };

    const timer = setInterval(tick, PACER_TICK_MS);
    const reporter = setInterval(() => report(false), REPORT_INTERVAL_MS);

    const onSignal = (signal: NodeJS.Signals): void => {
      if (!stopping) {
        void stop(`received ${signal}`, 0);
        return;
      }
      // A second signal means the user will not wait for the drain.
      log.warn({ signal }, "second signal while draining: exiting now");
      flushLogger();
      process.exit(1);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    void watchStatus(nc, log, config.streamReplicas, (up) => (connected = up));
    void nc.closed().then((err) => {
      // Closing is expected only from our own drain; anything else ends the run as a failure.
      if (!stopping) void stop("NATS connection closed", 1, err ?? undefined);
    });

    const stop = async (reason: string, code: number, err?: unknown): Promise<void> => {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      clearInterval(reporter);
      report(true);
      const elapsed = (performance.now() - startMs) / 1000;
      const fields = { reason, published, seconds: round1(elapsed), averageRate: Math.round(published / Math.max(elapsed, 1e-3)), skipped: pacer.skipped, dropped };
      if (err === undefined) log.info(fields, "feed stopping");
      else log.error({ ...fields, err }, "feed stopping");
      try {
        // Drain flushes what is buffered, so every quote counted as published reaches NATS.
        if (!nc.isClosed()) await nc.drain();
      } catch (drainErr) {
        log.warn({ err: drainErr }, "NATS drain failed");
      }
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(code);
    };
  });
}

async function watchStatus(nc: NatsConnection, log: Logger, streamReplicas: number | undefined, setConnected: (up: boolean) => void): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === "disconnect") {
      setConnected(false);
      log.warn({ server: s.server }, "NATS disconnected: dropping quotes until reconnected");
    } else if (s.type === "reconnect") {
      setConnected(true);
      log.info({ server: s.server }, "NATS reconnected");
      // The server may have come back with an empty store (a fresh container): recreate the
      // last-value stream now rather than wait for a quotecast server to do it.
      ensureQuoteStream(nc, log, { replicas: streamReplicas }).catch((err: unknown) => log.warn({ err }, "could not re-check the last-value quote stream"));
    }
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
