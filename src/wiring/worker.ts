import type { us_listen_socket } from "uWebSockets.js";
import type { ServeConfig } from "../config/serve-config.js";
import { FeedIngest, type IngestListener } from "../ingest/ingest.js";
import { IngestReplica, type WorkerIngest } from "../ingest/ingest-replica.js";
import { LastValues } from "../ingest/last-values.js";
import { INVALID_REASONS, type InvalidReason } from "../ingest/validate.js";
import { createApp } from "../http/app.js";
import { loadNativeUws } from "../http/uws.js";
import type { Logger } from "../log/logger.js";
import { createWorkerRegistry, REJECT_REASONS, type RejectReason } from "../metrics/worker-metrics.js";
import { Fanout } from "../fanout/fanout.js";
import { FlushClock } from "../fanout/flush-clock.js";
import { SlicedTicks } from "../fanout/sliced-ticks.js";
import { DEFAULT_SYMBOLS } from "../config/default-symbols.js";
import { Drain } from "./drain.js";
import { ingestOptions } from "./node-ingest.js";
import { connectionBudget, openFileLimit } from "../http/fd-budget.js";
import { startWarningSummary } from "./warning-summary.js";
import { SubscriptionBudget } from "../http/subscription-budget.js";
import type { AdmissionGate } from "../http/admission-port.js";
import type { Registry } from "prom-client";
import { AUTH_FAILURE_REASONS, type AuthFailureReason } from "../auth/auth-failure.js";
import { ExpiryWheel } from "../auth/expiry-wheel.js";
import { createTokenVerifier } from "../auth/token-verifier.js";
import type { ExpiringStream, SubscriptionAuth } from "../http/quotes-route.js";

/**
 * What the process around a worker hands it. Supervision (src/cluster/worker-main.ts) knows
 * whether a primary forked this process and builds what talks to it; the wiring only uses them.
 */
export interface WorkerHost {
  /** Admission: the primary's verdicts over IPC, or a local decision for a worker run alone. */
  readonly admission: AdmissionGate & { readonly timeouts: number };
  /** A primary reads NATS for this worker (`--ingest shared`) and sends it the quotes over IPC. */
  readonly sharedIngest: boolean;
}

export interface RunningWorker {
  readonly port: number;
  readonly registry: Registry;
  /** Graceful drain, then stop everything; resolves when done. */
  drain(): Promise<void>;
}

/**
 * The wiring of one serving process: NATS ingest → last values → fan-out → uWS sockets, built
 * from the configuration. Everything per worker (timers, loggers, frames) is made once here,
 * never per connection. Forking, restarts, signals and IPC are supervision's (src/cluster/).
 */
export async function startWorker(cfg: ServeConfig, log: Logger, host: WorkerHost): Promise<RunningWorker> {
  const { uws, binary } = loadNativeUws();
  const values = new LastValues(cfg.maxFeedSymbols, () =>
    log.warn({ maxFeedSymbols: cfg.maxFeedSymbols }, "the feed has more distinct symbols than --max-feed-symbols; quotes of newer symbols are dropped (quotecast_feed_symbols_over_cap_total)"),
  );
  const sweepMs = heartbeatSweepMs(cfg.heartbeatMs);
  const fanout = new Fanout(values, {
    heartbeatMs: cfg.heartbeatMs,
    heartbeatSweepMs: sweepMs,
    slowConsumerMs: cfg.slowConsumerMs,
  });
  const invalid = Object.fromEntries(INVALID_REASONS.map((r) => [r, 0])) as Record<InvalidReason, number>;
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  const authFailures = Object.fromEntries(AUTH_FAILURE_REASONS.map((r) => [r, 0])) as Record<AuthFailureReason, number>;
  const verifier = createTokenVerifier({ hs256Secret: cfg.authHs256Secret, publicKeyFile: cfg.authPublicKey });
  const auth: SubscriptionAuth | null = verifier === null ? null : { verifier, expiry: new ExpiryWheel<ExpiringStream>(EXPIRY_SWEEP_MS) };
  const listener: IngestListener = {
    onQuote: (value) => fanout.onQuote(value),
    onInvalid: (reason) => invalid[reason]++,
    onLoaded: (epoch) => fanout.markLoaded(epoch, performance.now()),
  };
  // Shared: the primary reads NATS once for every worker (docs/ingest.md); a worker run without
  // a primary (the bench's standalone worker) reads it itself.
  const ingest: WorkerIngest =
    host.sharedIngest
      ? new IngestReplica(values, listener, log.child({ component: "ingest" }))
      : new FeedIngest(values, listener, ingestOptions(cfg), log.child({ component: "ingest" }));
  const drain = new Drain(fanout, cfg.drainMs, cfg.flushMs, log);
  const registry = createWorkerRegistry({
    fanout: fanout.counters,
    connections: () => fanout.connectionCount,
    quotesReceived: () => ingest.received,
    outOfOrderLive: () => ingest.outOfOrderLive,
    feedSymbols: () => values.size,
    feedSymbolsOverCap: () => values.overCap,
    natsConnected: () => ingest.connected,
    invalid,
    rejected,
    authFailures,
  });

  const fdLimit = openFileLimit();
  const budget = connectionBudget(fdLimit);
  const admission = host.admission;
  const app = createApp(uws, {
    fanout,
    admission,
    connectionBudget: budget,
    subscriptions: new SubscriptionBudget(cfg.maxWorkerSubscriptions),
    trustProxy: cfg.trustProxy,
    rejected,
    auth,
    authFailures,
    limits: { maxSymbols: cfg.maxSymbols, flushMs: cfg.flushMs, maxKbps: cfg.maxKbps },
    compression: cfg.compression,
    corsOrigins: cfg.corsOrigins,
    defaultSymbols: DEFAULT_SYMBOLS,
    isDraining: () => drain.started,
    isReady: () => ingest.connected && ingest.loaded && !drain.started,
  });
  const listenSocket = await listen(app, cfg.host, cfg.port);
  const port = uws.us_socket_local_port(listenSocket);

  const ticks = new SlicedTicks(fanout, FRAMES_PER_SLICE);
  const clock = new FlushClock(cfg.flushMs, ticks.onTick);
  const heartbeat = setInterval(() => fanout.heartbeat(performance.now()), sweepMs);
  // One timer per worker ends every stream whose token has expired (at most EXPIRY_SWEEP_MS late).
  const expirySweep = auth === null ? undefined : setInterval(() => {
    for (const stream of auth.expiry.due(Date.now())) stream.expire();
  }, EXPIRY_SWEEP_MS);
  clock.start();
  const stopWarnings = startWarningSummary(log, () => ({
    slowConsumerDisconnects: fanout.counters.slowConsumerDisconnects,
    feedQuotesOverSymbolCap: values.overCap,
    // Connections let in without the primary's verdict because it did not answer in time.
    admissionTimeouts: admission.timeouts,
    ...prefixed("invalidFeedMessages.", invalid),
    ...prefixed("rejectedConnections.", rejected),
    ...prefixed("authFailures.", authFailures),
  }));
  void ingest.start().catch((err: unknown) => log.error({ err }, "feed ingest stopped"));

  log.info({ port, host: cfg.host, uws: binary, openFileLimit: fdLimit, connectionBudget: budget }, "worker serving");
  return {
    port,
    registry,
    async drain() {
      // New subscriptions are refused (503) and /readyz answers 503 from here on; the port stays
      // open until the end so that load balancers can see that.
      await drain.run(() => fanout.tick(performance.now()));
      uws.us_listen_socket_close(listenSocket);
      clock.stop();
      ticks.stop();
      clearInterval(heartbeat);
      clearInterval(expirySweep);
      stopWarnings();
      await ingest.stop();
    },
  };
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in counts) out[prefix + key] = counts[key]!;
  return out;
}

/** How often streams are checked for an expired token: they close at most this long after `exp`. */
const EXPIRY_SWEEP_MS = 250;
/**
 * Frames a flush tick writes before the event loop gets a turn: about 2 ms of writes here, against
 * a feed that arrives in batches every few ms. At 10,000 connections, flush 50 ms, 64 and 256 gave
 * the same figures (p99 91-92 ms, 118-122k frames/s, one run each), 1024 a worse one (106 ms, 105k).
 */
const FRAMES_PER_SLICE = 256;

/** Heartbeats are checked this often, so that no silence lasts longer than `heartbeatMs`. */
export function heartbeatSweepMs(heartbeatMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(heartbeatMs / 4)));
}

/** uWS reports no reason, only that listening failed: a configuration error, not worth a restart. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}

function listen(app: ReturnType<typeof createApp>, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket) resolve(socket);
      else reject(new ListenError(`cannot listen on ${host}:${port}: the port is in use or the address is not local; choose another --port or --host`));
    });
  });
}
