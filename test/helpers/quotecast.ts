import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { connect as netConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort, freePorts } from "../../scripts/lib/ports.mjs";
import { childPids, sleep, waitFor } from "../../scripts/lib/processes.mjs";

const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

export interface QuotecastOptions {
  readonly nats: string;
  /** Extra `serve` flags. */
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Wait for /readyz 200 (default) or only for the port to answer /healthz. */
  readonly waitReady?: boolean;
  readonly timeoutMs?: number;
  /** Run under `ulimit -n` of this many open files. */
  readonly fdLimit?: number;
  /** HTTP port (default: a free one); pass a previous server's port to restart "the same" server. */
  readonly port?: number;
}

export interface Quotecast {
  readonly port: number;
  readonly metricsPort: number;
  readonly base: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr. */
  output(): string;
  /** How many log lines so far have this `msg` (e.g. "worker serving", once per worker start). */
  logged(msg: string): number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | string>;
  /** SIGKILL the workers and the primary at once (a crash, no drain) and wait for the exit. */
  kill(): Promise<number | string>;
  metrics(): Promise<string>;
  /** Pids of the worker processes (children of the primary) right now. */
  workerPids(): number[];
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Run `quotecast serve` from dist/ as a user would, on free ports, and wait until it serves. */
export async function startQuotecast(opts: QuotecastOptions): Promise<Quotecast> {
  const port = opts.port ?? (await freePort());
  const [metricsPort] = (await freePorts(1, [port])) as [number];
  const argv = [CLI, "serve", "--port", String(port), "--host", "127.0.0.1", "--metrics-port", String(metricsPort), "--workers", "1", "--nats", opts.nats, ...(opts.args ?? [])];
  const env = { ...process.env, LOG_LEVEL: "info", ...opts.env };
  const child =
    opts.fdLimit === undefined
      ? spawn(process.execPath, argv, { env, stdio: ["ignore", "pipe", "pipe"] })
      : spawn("/bin/sh", ["-c", `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, process.execPath, ...argv], { env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? "unknown");
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  const qc: Quotecast = {
    port,
    metricsPort,
    base,
    child,
    output: () => out,
    logged: (msg) => out.split(`"msg":"${msg}"`).length - 1,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      for (const pid of childPids(child.pid!)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      return exited;
    },
    workerPids() {
      return childPids(child.pid!);
    },
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      return res.text();
    },
  };
  const path = opts.waitReady === false ? "/healthz" : "/readyz";
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  while (Date.now() < deadline && !exitedEarly) {
    try {
      const res = await fetch(base + path);
      if (res.status === 200) return qc;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  child.kill("SIGKILL");
  throw new Error(`quotecast did not become ready on ${base}${path}; output:\n${out}`);
}

/**
 * The value of one sample line of Prometheus text (`name{labels} value`). Throws when the sample
 * is absent or not a number: "equals 0" must not pass because a metric went missing.
 */
export function metricValue(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  if (line === undefined) throw new Error(`metric ${name}${labels ? `{${labels}}` : ""} is not in the scrape`);
  const value = Number(line.slice(line.lastIndexOf(" ") + 1));
  if (Number.isNaN(value)) throw new Error(`metric ${name}${labels ? `{${labels}}` : ""} is not a number: ${JSON.stringify(line)}`);
  return value;
}

/** Established connections on local `port`, counted per owning process (from `ss`): which worker serves what. */
export function connectionsByPid(port: number): Map<number, number> {
  const out = execFileSync("ss", ["-tnpH", "state", "established", "(", "sport", "=", `:${port}`, ")"], { encoding: "utf8" });
  const counts = new Map<number, number>();
  for (const line of out.split("\n")) {
    const pid = /pid=(\d+)/.exec(line)?.[1];
    if (pid !== undefined) counts.set(Number(pid), (counts.get(Number(pid)) ?? 0) + 1);
  }
  return counts;
}

// Children of a pid, sleep and polling come from the one process kit shared with scripts/ and bench/.
export { childPids, sleep, waitFor };

/** The process (worker) holding each established connection on local `port`, by the client's port. */
export function workerByClientPort(port: number): Map<number, number> {
  const out = execFileSync("ss", ["-tnpH", "state", "established", "(", "sport", "=", `:${port}`, ")"], { encoding: "utf8" });
  const owners = new Map<number, number>();
  for (const line of out.split("\n")) {
    // Recv-Q Send-Q Local:port Peer:port users:(("node",pid=N,fd=M))
    const m = /\S+:\d+\s+\S+:(\d+)\s+users:.*?pid=(\d+)/.exec(line);
    if (m) owners.set(Number(m[1]), Number(m[2]));
  }
  return owners;
}

/**
 * Resolve once `n` different processes accept connections on `port`: startQuotecast waits for one
 * worker to be ready, and a test of a server-wide limit that runs before the others listen
 * proves nothing about them. Probes are bare TCP connections that send nothing, so they use no
 * cap and no connect-rate token.
 */
export async function waitForWorkersListening(port: number, n: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => {
    const probes = Array.from({ length: 16 }, () => netConnect(port, "127.0.0.1"));
    try {
      await Promise.all(probes.map((s) => new Promise((resolve, reject) => s.once("connect", resolve).once("error", reject))));
      await sleep(100);
      const owners = workerByClientPort(port);
      return new Set(probes.map((s) => owners.get(s.localPort!)).filter((pid) => pid !== undefined)).size >= n;
    } finally {
      probes.forEach((s) => s.destroy());
    }
  }, timeoutMs, `${n} processes accepting connections on port ${port}`);
}
