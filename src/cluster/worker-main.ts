import { AggregatorRegistry, type PrometheusContentType } from "prom-client";
import { sharedIngest, type ServeConfig } from "../config/serve-config.js";
import { flushLogger, logger } from "../log/logger.js";
import { startWorker, type WorkerHost } from "../wiring/worker.js";
import { Admission, localShare } from "./admission.js";
import { AdmissionClient } from "./admission-ipc.js";
import { CONFIG_ENV, type WorkerMessage } from "./primary.js";

/** Send the primary a message and wait until it is on its way (an exit right after would lose it). */
function tell(msg: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(msg, undefined, {}, () => resolve());
  });
}

/**
 * What this process gives the worker's wiring. Forked by a primary (an IPC channel): the
 * primary's admission and, when the ingest is shared, its quotes. Run alone (the bench's standalone
 * worker): its own admission, and its own NATS reader.
 */
export function workerHost(cfg: ServeConfig, forked = process.send !== undefined): WorkerHost {
  // Without the primary's verdict a worker applies its share of each cap, never none.
  if (forked) return { admission: new AdmissionClient(localShare(cfg, cfg.workers)), sharedIngest: sharedIngest(cfg) };
  const local = new Admission(cfg);
  return {
    admission: { timeouts: 0, admit: (ip) => Promise.resolve(local.admit(ip, Date.now())), release: (ip) => local.release(ip) },
    sharedIngest: false,
  };
}

/** Entry of a forked worker: start serving, drain on the primary's word or on a signal, exit 0. */
export async function workerMain(): Promise<number> {
  const cfg = JSON.parse(process.env[CONFIG_ENV] ?? "{}") as ServeConfig;
  const log = logger.child({ role: "worker" });
  // A promise nobody awaited (a cleanup that failed, say) must not take every connection of this
  // worker down with it. A thrown exception still ends the worker: its state may be broken, and
  // the primary restarts it while its clients resume elsewhere with their Last-Event-ID.
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled promise rejection; still serving"));
  let worker: Awaited<ReturnType<typeof startWorker>>;
  try {
    worker = await startWorker(cfg, log, workerHost(cfg));
  } catch (err) {
    // Told to the primary, which decides (a first start that fails stops the server with one
    // line on stderr); this worker only logs it and exits.
    log.error({ err }, "worker failed to start");
    await tell({ type: "start-failed", error: (err as Error).message ?? String(err) });
    flushLogger();
    return 1;
  }
  // prom-client: the primary's clusterMetrics() asks every worker over IPC, and only workers
  // that constructed an AggregatorRegistry answer; without this the primary times out.
  new AggregatorRegistry<PrometheusContentType>();
  AggregatorRegistry.setRegistries([worker.registry]);
  await tell({ type: "serving", port: worker.port });

  return new Promise((resolve) => {
    let draining = false;
    const drain = (): void => {
      if (draining) return;
      draining = true;
      worker.drain().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, "drain failed");
          resolve(1);
        },
      );
    };
    process.on("message", (msg: { type?: string }) => {
      if (msg?.type === "drain") drain();
    });
    // Ctrl-C reaches the whole process group; the primary's message follows, drain is idempotent.
    process.on("SIGTERM", drain);
    process.on("SIGINT", drain);
    // If the primary dies, nobody would restart or stop us: go too.
    process.on("disconnect", drain);
  }).finally(flushLogger) as Promise<number>;
}
