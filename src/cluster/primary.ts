import cluster, { type Worker } from "node:cluster";
import { createServer, type Server } from "node:http";
import { AggregatorRegistry, Counter, Gauge, Registry, type PrometheusContentType } from "prom-client";
import type { ServeConfig } from "../config/serve-config.js";
import type { Logger } from "../logger.js";
import { RestartPolicy } from "./restart-policy.js";
import { Admission } from "./admission.js";
import { serveAdmission } from "./admission-ipc.js";
import { NodeIngest } from "../feed/node-ingest.js";

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
  const workerRestarts = new Counter({ name: "quotecast_worker_restarts_total", help: "Workers that died and were restarted by the primary", registers: [own] });
  // What alerts compare the workers' sums with: "every worker on NATS", "connections near the cap".
  new Gauge({ name: "quotecast_workers", help: "Worker processes alive", registers: [own], collect() { this.set(Object.keys(cluster.workers ?? {}).length); } });
  new Gauge({ name: "quotecast_max_connections", help: "The --max-connections cap (whole server)", registers: [own], collect() { this.set(cfg.maxConnections); } });
  serveAdmission(new Admission(cfg));
  // One NATS reader for the node's workers (docs/ingest.md); started before the workers so that
  // their first hello finds it.
  const shared = cfg.ingest === "shared"
    ? new NodeIngest({ servers: cfg.natsServers, maxQuoteBytes: cfg.maxQuoteBytes, name: `quotecast-${process.pid}`, streamStorage: cfg.streamStorage }, log.child({ component: "ingest" }))
    : null;
  shared?.start();
  let stopping = false;
  let metricsServer: Server | null = null;

  return new Promise((resolve) => {
    const fork = (): Worker => {
      const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(cfg) });
      log.info({ worker: worker.id, pid: worker.process.pid }, "worker started");
      return worker;
    };

    cluster.on("exit", (worker, code, signal) => {
      if (stopping) {
        log.info({ worker: worker.id, code, signal }, "worker stopped");
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          metricsServer?.close();
          // The workers drained with the shared ingest still feeding them; now it may go.
          void (shared?.stop() ?? Promise.resolve()).catch(() => undefined).then(() => resolve(0));
        }
        return;
      }
      workerRestarts.inc();
      const delay = restarts.onExit(Date.now());
      const level = restarts.crashLooping ? "error" : "warn";
      log[level]({ worker: worker.id, code, signal, restartInMs: delay, recentExits: restarts.recentExits }, restarts.crashLooping ? "worker keeps dying; restarting with backoff" : "worker died; restarting");
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
    });

    for (let i = 0; i < cfg.workers; i++) fork();

    if (cfg.metricsPort !== 0) {
      metricsServer = serveMetrics(aggregator, own, cfg.host, cfg.metricsPort, log);
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
      if (Object.keys(cluster.workers ?? {}).length === 0) resolve(0);
      // A worker that does not finish its drain in time is not allowed to hold up the exit.
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      }, cfg.drainMs + 5_000).unref();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

function serveMetrics(aggregator: AggregatorRegistry<PrometheusContentType>, own: Registry<PrometheusContentType>, host: string, port: number, log: Logger): Server {
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
  server.on("error", (err) => log.error({ err, port }, "metrics endpoint failed"));
  server.listen(port, host, () => log.info({ port }, "metrics endpoint listening"));
  return server;
}
