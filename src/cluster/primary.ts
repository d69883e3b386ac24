import cluster, { type Worker } from "node:cluster";
import { createServer, type Server } from "node:http";
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry, type PrometheusContentType } from "prom-client";
import type { ServeConfig } from "../config/serve-config.js";
import type { Logger } from "../log/logger.js";
import { RestartPolicy } from "./restart-policy.js";
import { Admission } from "./admission.js";
import { serveAdmission } from "./admission-ipc.js";
import { createNodeIngest } from "../wiring/node-ingest.js";

/** The environment variable that hands the parsed configuration to each worker. */
export const CONFIG_ENV = "QUOTECAST_WORKER_CONFIG";

/**
 * The primary serves no clients: it forks the workers (each a uWS app on the same port, which
 * SO_REUSEPORT lets the kernel share), restarts those that die, serves the metrics of all of them,
 * and orchestrates drain. Resolves with the exit code once every worker has stopped.
 */
export function runPrimary(cfg: ServeConfig, log: Logger): Promise<number> {
  const aggregator = new AggregatorRegistry<PrometheusContentType>();
  const restarts = new RestartPolicy();
  // The primary's own metrics: the workers' registries cannot count their own deaths.
  const own = new Registry<PrometheusContentType>();
  // The primary's own process (memory, CPU, event loop, descriptors), apart from the workers' sums:
  // it answers admission for every worker, so its stalls show as slow connects everywhere.
  collectDefaultMetrics({ register: own, prefix: "quotecast_primary_" });
  const workerRestarts = new Counter({ name: "quotecast_worker_restarts_total", help: "Workers that died and were restarted by the primary", registers: [own] });
  // What alerts compare the workers' sums with: "every worker on NATS", "connections near the cap".
  new Gauge({ name: "quotecast_workers", help: "Worker processes alive", registers: [own], collect() { this.set(Object.keys(cluster.workers ?? {}).length); } });
  new Gauge({ name: "quotecast_max_connections", help: "The --max-connections cap (whole server)", registers: [own], collect() { this.set(cfg.maxConnections); } });
  serveAdmission(new Admission(cfg));
  // One NATS reader for the node's workers (docs/ingest.md); started before the workers so that
  // their first hello finds it.
  const shared = createNodeIngest(cfg, log);
  shared?.start();
  if (shared !== null) {
    // A worker slower than the feed is caught up, not queued for (docs/ingest.md).
    new Counter({ name: "quotecast_ingest_worker_catch_ups_total", help: "Shared ingest: catch-up messages sent to workers that fell behind the feed, instead of the batches they missed", registers: [own], collect() { this.reset(); this.inc(shared.catchUps); } });
    new Counter({ name: "quotecast_ingest_batches_skipped_total", help: "Shared ingest: batches not queued for a worker that was behind (a catch-up follows)", registers: [own], collect() { this.reset(); this.inc(shared.skipped); } });
  }
  let stopping = false;
  let exitCode = 0;
  let metricsServer: Server | null = null;
  // Workers of the first start, and workers that have told us they serve. A worker of the first
  // start that dies before serving is a configuration error (its port is taken, its address is
  // not local): restarting it would only fill the log, and systemd or Kubernetes would never see
  // a failed start. Restarts are for workers that die after serving.
  const firstStart = new Set<number>();
  const serving = new Set<number>();
  const startFailures = new Map<number, string>();

  return new Promise((resolve) => {
    const finish = (): void => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      metricsServer?.close();
      resolve(exitCode);
    };

    /** Stop everything and exit 1, with one line on stderr that says what to fix. */
    const fatal = (message: string, fields: Record<string, unknown>): void => {
      if (stopping) return;
      stopping = true;
      exitCode = 1;
      log.fatal(fields, message);
      console.error(`quotecast: ${message}`);
      // Nothing has been serving for long (this is the first start): no drain to wait for.
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      finish();
    };

    const fork = (first: boolean): Worker => {
      const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(cfg) });
      if (first) firstStart.add(worker.id);
      log.info({ worker: worker.id, pid: worker.process.pid }, "worker started");
      return worker;
    };

    cluster.on("message", (worker, msg: WorkerMessage) => {
      if (msg?.type === "serving") {
        serving.add(worker.id);
        // A worker still starting when the drain began (a restart in progress) did not take the
        // drain message: it drains now that it serves, instead of holding the exit until the
        // kill below, drain-ms + 5 s later.
        if (stopping) worker.send({ type: "drain" });
      } else if (msg?.type === "start-failed") startFailures.set(worker.id, msg.error);
    });

    cluster.on("exit", (worker, code, signal) => {
      const served = serving.delete(worker.id);
      const failure = startFailures.get(worker.id);
      startFailures.delete(worker.id);
      if (stopping) {
        log.info({ worker: worker.id, code, signal }, "worker stopped");
        if (shared !== null && Object.keys(cluster.workers ?? {}).length === 0) {
          // The workers drained with the shared ingest still feeding them; now it may go.
          void shared.stop().catch(() => undefined).then(finish);
        } else finish();
        return;
      }
      if (!served && firstStart.has(worker.id)) {
        fatal(failure ?? `a worker exited before serving (code ${code}, signal ${signal}); see the log above`, { worker: worker.id, code, signal });
        return;
      }
      firstStart.delete(worker.id);
      workerRestarts.inc();
      const delay = restarts.onExit(Date.now());
      const level = restarts.crashLooping ? "error" : "warn";
      const what = served ? (restarts.crashLooping ? "worker keeps dying; restarting with backoff" : "worker died; restarting") : "a restarted worker failed to start; retrying with backoff";
      log[level]({ worker: worker.id, code, signal, restartInMs: delay, recentExits: restarts.recentExits, ...(failure === undefined ? {} : { error: failure }) }, what);
      // Not unref'd: between a death and its restart this timer may be all that keeps the primary
      // alive (with --metrics-port 0 nothing else does), and an empty event loop would exit 0.
      setTimeout(() => {
        if (!stopping) fork(false);
      }, delay);
    });

    const forkAll = (): void => {
      for (let i = 0; i < cfg.workers; i++) fork(true);
    };
    if (cfg.metricsPort === 0) {
      forkAll();
    } else {
      // Metrics first: a metrics port in use is a configuration error, found before any worker starts.
      metricsServer = serveMetrics(aggregator, own, cfg.metricsHost, cfg.metricsPort, log, forkAll, (err) =>
        fatal(`cannot serve metrics on ${cfg.metricsHost}:${cfg.metricsPort}: ${listenProblem(err)}; choose another --metrics-port (0 turns metrics off)`, { err }),
      );
    }

    let firstSignalAt = 0;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // Ctrl-C under npm arrives twice (from the terminal and forwarded by npm): only a second
        // signal a moment later means "force".
        if (Date.now() - firstSignalAt < 1000) return;
        log.warn({ signal }, "second signal: forcing exit");
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
        resolve(130);
        return;
      }
      stopping = true;
      firstSignalAt = Date.now();
      log.info({ signal, drainMs: cfg.drainMs }, "draining workers");
      for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: "drain" });
      finish();
      // A worker that does not finish its drain in time is not allowed to hold up the exit.
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      }, cfg.drainMs + 5_000).unref();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

/** What a worker tells the primary about its start. */
export type WorkerMessage = { type: "serving"; port: number } | { type: "start-failed"; error: string } | { type?: undefined };

function listenProblem(err: NodeJS.ErrnoException): string {
  if (err.code === "EADDRINUSE") return "the port is in use";
  if (err.code === "EADDRNOTAVAIL") return "the address is not local";
  if (err.code === "EACCES") return "permission denied (ports below 1024 need privileges)";
  return err.message;
}

function serveMetrics(
  aggregator: AggregatorRegistry<PrometheusContentType>,
  own: Registry<PrometheusContentType>,
  host: string,
  port: number,
  log: Logger,
  onListening: () => void,
  onListenError: (err: NodeJS.ErrnoException) => void,
): Server {
  const server = createServer((req, res) => {
    if (req.url !== "/metrics" || req.method !== "GET") {
      res.writeHead(req.url === "/metrics" ? 405 : 404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: req.url === "/metrics" ? "use GET" : "no such path; metrics are at /metrics" }));
      return;
    }
    Promise.all([aggregator.clusterMetrics(), own.metrics()]).then(
      ([workers, primary]) => {
        res.writeHead(200, { "Content-Type": aggregator.contentType });
        res.end(workers + primary);
      },
      (err: unknown) => {
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: `metrics unavailable: ${(err as Error).message}` }));
      },
    );
  });
  let listening = false;
  server.on("error", (err: NodeJS.ErrnoException) => {
    if (!listening) onListenError(err);
    else log.error({ err, port }, "metrics endpoint failed");
  });
  server.listen(port, host, () => {
    listening = true;
    log.info({ host, port }, "metrics endpoint listening");
    onListening();
  });
  return server;
}
