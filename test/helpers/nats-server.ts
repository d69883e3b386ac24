// Private nats-server processes for integration tests.
//
// Every server started here listens on a free 127.0.0.1 port with its own
// temporary JetStream store, so tests never touch the shared server on
// 127.0.0.1:4222 and never see each other's streams.

import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { findNatsServer, natsServerArgs } from "../../scripts/lib/nats-binary.mjs";
import { freePort, freePorts } from "../../scripts/lib/ports.mjs";
import { canConnect, sleep } from "../../scripts/lib/processes.mjs";

const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const LOG_TAIL_BYTES = 16_384;
/** A cluster node answers JetStream within ms once it has a meta leader: ask again this often until then. */
const CLUSTER_JS_REQUEST_TIMEOUT_MS = 250;

export class NatsServerError extends Error {
  override name = "NatsServerError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface StartNatsServerOptions {
  /** Enable JetStream (`-js -sd <dir>`). Default true. */
  jetstream?: boolean;
  /** Extra nats-server arguments, appended last. */
  args?: string[];
  /** Bound for start and restart, in ms. Default 15000. */
  startTimeoutMs?: number;
  /** Prefix of the unique `--server_name`. Default "qc-test". */
  name?: string;
}

export interface RestartOptions {
  /**
   * Wait until JetStream answers through this server. Default true when
   * JetStream is on. A lone cluster node cannot answer without a quorum,
   * so pass false when restarting several nodes one after another.
   */
  waitForJetStream?: boolean;
  timeoutMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory (kept across restart, removed by cleanup). */
  readonly storeDir: string;
  readonly serverName: string;
  /** Pid of the current process, undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Tail of the server's stderr (its log), across restarts. */
  logs(): string;
  /** SIGTERM and wait for exit (SIGKILL after the stop timeout). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash, no graceful shutdown. Idempotent. */
  kill(): Promise<void>;
  /** Stop if running, then start again on the same port with the same store. */
  restart(options?: RestartOptions): Promise<void>;
  /** stop() and remove the store directory. Idempotent. */
  cleanup(): Promise<void>;
}

export interface NatsCluster {
  /** One client URL per node. */
  readonly urls: string[];
  /** All client URLs comma-separated, the form `--nats` / `NATS_URL` take. */
  readonly url: string;
  readonly clusterName: string;
  readonly nodes: NatsServer[];
  /** Stop every node. */
  stop(): Promise<void>;
  /**
   * Wait until every running node answers JetStream requests again, e.g.
   * after stopping the meta leader (a re-election takes several seconds).
   */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** Stop every node, start them all again (same ports, same stores), wait for JetStream. */
  restart(options?: { timeoutMs?: number }): Promise<void>;
  /** Stop every node and remove every store directory. */
  cleanup(): Promise<void>;
}

// Servers still alive when the test process exits (a test that forgot its
// teardown, or a crash) are killed here, so no nats-server outlives the run.
const live = new Set<ChildProcess>();
const storeDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        /* already gone */
      }
    }
    for (const dir of storeDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

// Ports, the binary and TCP readiness come from the one process kit shared with scripts/ and bench/.
export { freePort, freePorts };

/** Path of the nats-server binary: PATH first, then the usual install places. */
export function findNatsServerBinary(): string {
  const binary = findNatsServer();
  if (binary !== undefined) return binary;
  throw new NatsServerError(
    "nats-server not found on PATH nor in /usr/sbin; install it (Debian/Ubuntu: apt-get install nats-server)",
  );
}

async function withConnection<T>(url: string, timeoutMs: number, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url, reconnect: false, timeout: timeoutMs, noRandomize: true });
  try {
    return await fn(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Resolves true once JetStream answers an account-info request through `url`. */
async function jetStreamAnswers(url: string, timeoutMs: number, requestTimeoutMs = timeoutMs): Promise<boolean> {
  try {
    return await withConnection(url, timeoutMs, async (nc) => {
      const jsm = await jetstreamManager(nc, { timeout: requestTimeoutMs, checkAPI: false });
      await jsm.getAccountInfo();
      return true;
    });
  } catch {
    return false;
  }
}

interface ProcessSpec {
  port: number;
  storeDir: string;
  serverName: string;
  jetstream: boolean;
  /** Arguments besides the client address, port, store and name. */
  extraArgs: string[];
  startTimeoutMs: number;
  /**
   * How long one JetStream readiness request may go unanswered (default: up to 1 s). A cluster
   * node does not answer until a meta leader is elected, and each unanswered request held the
   * wait that long after the election.
   */
  jsRequestTimeoutMs?: number;
}

class ManagedNatsServer implements NatsServer {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = "";
  private cleanedUp = false;

  constructor(
    private readonly binary: string,
    private readonly spec: ProcessSpec,
  ) {
    this.url = `nats://127.0.0.1:${spec.port}`;
  }

  get port(): number {
    return this.spec.port;
  }
  get storeDir(): string {
    return this.spec.storeDir;
  }
  get serverName(): string {
    return this.spec.serverName;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined;
  }

  logs(): string {
    return this.log;
  }

  private appendLog(chunk: Buffer): void {
    this.log += chunk.toString("utf8");
    if (this.log.length > LOG_TAIL_BYTES) this.log = this.log.slice(-LOG_TAIL_BYTES);
    if (process.env.NATS_HELPER_DEBUG) process.stderr.write(`[${this.spec.serverName}] ${chunk.toString("utf8")}`);
  }

  /** Spawn the process; does not wait for it to accept connections. */
  spawn(): void {
    if (this.cleanedUp) throw new NatsServerError(`${this.spec.serverName} was cleaned up; start a new server`);
    if (this.child) return;
    const args = natsServerArgs({
      port: this.spec.port,
      name: this.spec.serverName,
      ...(this.spec.jetstream ? { storeDir: this.spec.storeDir } : {}),
    });
    args.push(...this.spec.extraArgs);
    const child = spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    live.add(child);
    // Unref'd so a forgotten server cannot keep the test process alive; the
    // exit hook kills it. Every wait below holds its own timer, which keeps
    // the event loop running while we wait on the child.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => this.appendLog(chunk));
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
    this.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        if (this.child === child) this.child = undefined;
        this.appendLog(Buffer.from(`-- exited code=${code} signal=${signal}\n`));
        resolve();
      });
      child.once("error", (err) => {
        live.delete(child);
        if (this.child === child) this.child = undefined;
        this.appendLog(Buffer.from(`-- spawn error: ${err.message}\n`));
        resolve();
      });
    });
  }

  /** Wait until the server accepts NATS connections (and, optionally, JetStream answers). */
  async waitReady(waitForJetStream: boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let stage = "accept TCP connections";
    while (Date.now() < deadline) {
      if (!this.child) {
        throw new NatsServerError(
          `${this.spec.serverName} exited before it was ready (${this.url}).\n--- nats-server log ---\n${this.log}`,
        );
      }
      const left = Math.max(100, Math.min(1000, deadline - Date.now()));
      if (stage === "accept TCP connections" && (await canConnect(this.spec.port, left))) {
        stage = "answer the NATS protocol";
      }
      if (stage === "answer the NATS protocol") {
        const ok = await withConnection(this.url, left, (nc) => nc.flush()).then(
          () => true,
          () => false,
        );
        if (ok) {
          if (!waitForJetStream) return;
          stage = "answer JetStream requests";
        }
      }
      if (stage === "answer JetStream requests" && (await jetStreamAnswers(this.url, left, Math.min(left, this.spec.jsRequestTimeoutMs ?? left)))) return;
      await sleep(50);
    }
    throw new NatsServerError(
      `${this.spec.serverName} did not ${stage} on ${this.url} within ${timeoutMs} ms.\n--- nats-server log ---\n${this.log}`,
    );
  }

  private async signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      if (signal === "SIGKILL") {
        throw new NatsServerError(`${this.spec.serverName} (pid ${child.pid}) did not exit after SIGKILL`);
      }
      await this.signalAndWait("SIGKILL", DEFAULT_STOP_TIMEOUT_MS);
    }
  }

  stop(): Promise<void> {
    return this.signalAndWait("SIGTERM", DEFAULT_STOP_TIMEOUT_MS);
  }

  kill(): Promise<void> {
    return this.signalAndWait("SIGKILL", DEFAULT_STOP_TIMEOUT_MS);
  }

  async restart(options: RestartOptions = {}): Promise<void> {
    await this.stop();
    this.spawn();
    await this.waitReady(
      options.waitForJetStream ?? this.spec.jetstream,
      options.timeoutMs ?? this.spec.startTimeoutMs,
    );
  }

  async cleanup(): Promise<void> {
    await this.stop();
    this.cleanedUp = true;
    await rm(this.spec.storeDir, { recursive: true, force: true });
    storeDirs.delete(this.spec.storeDir);
  }
}

let serial = 0;
function uniqueName(prefix: string): string {
  serial += 1;
  return `${prefix}-${process.pid}-${serial}-${Math.random().toString(36).slice(2, 8)}`;
}

async function makeStoreDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "quotecast-nats-"));
  storeDirs.add(dir);
  return dir;
}

const portTaken = (log: string) => /address already in use/i.test(log);

/**
 * Start a private nats-server with JetStream on a free 127.0.0.1 port and a
 * temporary store. Resolves once it accepts connections and JetStream answers.
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  installExitHook();
  const binary = findNatsServerBinary();
  const jetstream = options.jetstream ?? true;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const storeDir = await makeStoreDir();
  // freePort() races with every other process on the machine: if another one
  // grabs the port before nats-server binds it, try again with a new port.
  for (let attempt = 1; ; attempt++) {
    const server = new ManagedNatsServer(binary, {
      port: await freePort(),
      storeDir,
      serverName: uniqueName(options.name ?? "qc-test"),
      jetstream,
      extraArgs: options.args ?? [],
      startTimeoutMs,
    });
    server.spawn();
    try {
      await server.waitReady(jetstream, startTimeoutMs);
      return server;
    } catch (err) {
      await server.kill().catch(() => undefined);
      if (attempt < 3 && portTaken(server.logs())) continue;
      await rm(storeDir, { recursive: true, force: true });
      storeDirs.delete(storeDir);
      throw err;
    }
  }
}

/**
 * Start `n` clustered nats-servers, JetStream on each with its own store.
 * Resolves once every node answers JetStream requests (a meta leader is
 * elected and every node knows it), so R`n` streams can be created at once.
 */
export async function startNatsCluster(
  n = 3,
  options: Omit<StartNatsServerOptions, "jetstream"> = {},
): Promise<NatsCluster> {
  if (!Number.isInteger(n) || n < 1) throw new NatsServerError(`cluster size must be a positive integer, got ${n}`);
  installExitHook();
  const binary = findNatsServerBinary();
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS * 2;
  const clusterName = uniqueName(options.name ?? "qc-cluster");
  const ports = await freePorts(2 * n);
  const clientPorts = ports.slice(0, n);
  const routePorts = ports.slice(n);
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`);
  const nodes: ManagedNatsServer[] = [];
  const cleanupAll = async () => {
    await Promise.all(nodes.map((node) => node.cleanup().catch(() => undefined)));
  };
  try {
    for (let i = 0; i < n; i++) {
      const node = new ManagedNatsServer(binary, {
        port: clientPorts[i]!,
        storeDir: await makeStoreDir(),
        serverName: `${clusterName}-n${i + 1}`,
        jetstream: true,
        extraArgs: [
          "--cluster",
          routes[i]!,
          "--cluster_name",
          clusterName,
          "--routes",
          routes.filter((_, j) => j !== i).join(","),
          ...(options.args ?? []),
        ],
        startTimeoutMs,
        jsRequestTimeoutMs: CLUSTER_JS_REQUEST_TIMEOUT_MS,
      });
      nodes.push(node);
      node.spawn();
    }
    // JetStream answers on a node only once the meta group has a leader that
    // this node knows, so checking every node also waits for the election.
    await Promise.all(nodes.map((node) => node.waitReady(true, startTimeoutMs)));
  } catch (err) {
    await cleanupAll();
    throw err;
  }
  const urls = nodes.map((node) => node.url);
  return {
    urls,
    url: urls.join(","),
    clusterName,
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    },
    waitForJetStream: async (timeoutMs = startTimeoutMs) => {
      await Promise.all(nodes.filter((node) => node.running).map((node) => node.waitReady(true, timeoutMs)));
    },
    restart: async (restartOptions = {}) => {
      await Promise.all(nodes.map((node) => node.stop()));
      // All at once: no node can answer JetStream until a quorum is back.
      for (const node of nodes) node.spawn();
      const timeoutMs = restartOptions.timeoutMs ?? startTimeoutMs;
      await Promise.all(nodes.map((node) => node.waitReady(true, timeoutMs)));
    },
    cleanup: cleanupAll,
  };
}
