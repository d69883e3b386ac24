import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { ConfigError } from "./config-error.js";
import { InvalidProxyAddressError, parseTrustedProxies } from "./trusted-proxies.js";

/** Everything `quotecast serve` can be told, after flags, environment and defaults. */
export interface ServeConfig {
  readonly port: number;
  readonly host: string;
  readonly natsServers: readonly string[];
  readonly workers: number;
  readonly flushMs: number;
  readonly heartbeatMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly maxConnectRate: number;
  readonly maxConnectRatePerIp: number;
  readonly trustProxy: readonly string[];
  readonly maxSymbols: number;
  /** Symbol subscriptions (symbols × connections) one worker holds at most; beyond, 503. */
  readonly maxWorkerSubscriptions: number;
  readonly maxQuoteBytes: number;
  readonly slowConsumerMs: number;
  readonly metricsPort: number;
  readonly drainMs: number;
  readonly authHs256Secret: string | undefined;
  readonly authPublicKey: string | undefined;
  readonly corsOrigins: readonly string[];
  /** Where /metrics listens; loopback unless told otherwise (the endpoint is unauthenticated). */
  readonly metricsHost: string;
  /** Replicas of the QUOTES stream when this process creates it; undefined: inferred from the cluster. */
  readonly streamReplicas: number | undefined;
  /** A file holding the HS256 secret (kept out of `ps` and shell history); its content becomes authHs256Secret. */
  readonly authHs256SecretFile: string | undefined;
  readonly maxFeedSymbols: number;
  readonly natsUser: string | undefined;
  readonly natsPassword: string | undefined;
  /** `gzip`: `/quotes` is compressed for clients that accept it. */
  readonly compression: Compression;
  /** Bandwidth budget per connection, kbit/s: the default and the ceiling of `maxKbps=` (0: unlimited). */
  readonly maxKbps: number;
  /** `shared`: the primary reads NATS once for all workers; `per-worker`: each worker reads it; `auto`: per-worker with one worker, shared with more (docs/ingest.md). */
  readonly ingest: IngestMode;
  /** Storage of the QUOTES stream when this process creates it: `file` (survives a NATS restart) or `memory` (about twice the rate). */
  readonly streamStorage: StreamStorage;
}

export const INGEST_MODES = ["auto", "shared", "per-worker"] as const;
export type IngestMode = (typeof INGEST_MODES)[number];

/**
 * Whether the primary reads NATS for the node's workers. `auto`: only with two workers or more;
 * one worker reading NATS itself saves the IPC hop, which it would pay for nothing (docs/ingest.md).
 */
export function sharedIngest(cfg: Pick<ServeConfig, "ingest" | "workers">): boolean {
  return cfg.ingest === "shared" || (cfg.ingest === "auto" && cfg.workers > 1);
}
export const STREAM_STORAGES = ["file", "memory"] as const;
export type StreamStorage = (typeof STREAM_STORAGES)[number];
export type Compression = "off" | "gzip";

type Kind = "int" | "string" | "list";
interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

/** Flag, environment variable, and meaning of every option; the README table is written from this. */
export const SERVE_OPTIONS = {
  port: { flag: "port", env: "QUOTECAST_PORT", kind: "int", min: 0, max: 65535, help: "HTTP port" },
  host: { flag: "host", env: "QUOTECAST_HOST", kind: "string", help: "bind address" },
  natsServers: { flag: "nats", env: "NATS_URL", kind: "list", help: "comma-separated NATS server URLs" },
  workers: { flag: "workers", env: "QUOTECAST_WORKERS", kind: "int", min: 1, max: 256, help: "worker processes" },
  flushMs: { flag: "flush-ms", env: "QUOTECAST_FLUSH_MS", kind: "int", min: 1, max: 60_000, help: "coalescing window" },
  heartbeatMs: { flag: "heartbeat-ms", env: "QUOTECAST_HEARTBEAT_MS", kind: "int", min: 100, max: 300_000, help: "comment heartbeat interval" },
  maxConnections: { flag: "max-connections", env: "QUOTECAST_MAX_CONNECTIONS", kind: "int", min: 1, help: "connection cap for the whole server" },
  maxConnectionsPerIp: { flag: "max-connections-per-ip", env: "QUOTECAST_MAX_CONNECTIONS_PER_IP", kind: "int", min: 1, help: "connection cap per client address" },
  maxConnectRate: { flag: "max-connect-rate", env: "QUOTECAST_MAX_CONNECT_RATE", kind: "int", min: 0, help: "new connections per second, whole server (0: no limit)" },
  maxConnectRatePerIp: { flag: "max-connect-rate-per-ip", env: "QUOTECAST_MAX_CONNECT_RATE_PER_IP", kind: "int", min: 0, help: "new connections per second per client address (0: no limit)" },
  trustProxy: { flag: "trust-proxy", env: "QUOTECAST_TRUST_PROXY", kind: "list", help: "proxy addresses and CIDR ranges (IPv4, IPv6) whose X-Forwarded-For is believed" },
  maxSymbols: { flag: "max-symbols", env: "QUOTECAST_MAX_SYMBOLS", kind: "int", min: 1, max: 100_000, help: "most symbols per connection" },
  maxWorkerSubscriptions: { flag: "max-worker-subscriptions", env: "QUOTECAST_MAX_WORKER_SUBSCRIPTIONS", kind: "int", min: 1, help: "symbol subscriptions (symbols x connections) one worker holds; beyond, 503" },
  maxQuoteBytes: { flag: "max-quote-bytes", env: "QUOTECAST_MAX_QUOTE_BYTES", kind: "int", min: 64, max: 1_048_576, help: "larger feed messages are invalid" },
  slowConsumerMs: { flag: "slow-consumer-ms", env: "QUOTECAST_SLOW_CONSUMER_MS", kind: "int", min: 100, help: "a connection congested this long is closed" },
  metricsPort: { flag: "metrics-port", env: "QUOTECAST_METRICS_PORT", kind: "int", min: 0, max: 65535, help: "Prometheus endpoint port (0: off)" },
  drainMs: { flag: "drain-ms", env: "QUOTECAST_DRAIN_MS", kind: "int", min: 0, max: 600_000, help: "graceful-drain window on SIGTERM/SIGINT" },
  authHs256Secret: { flag: "auth-hs256-secret", env: "QUOTECAST_AUTH_HS256_SECRET", kind: "string", help: "HS256 token secret (turns authentication on)" },
  authPublicKey: { flag: "auth-public-key", env: "QUOTECAST_AUTH_PUBLIC_KEY", kind: "string", help: "PEM or JWKS file for RS256/EdDSA tokens (turns authentication on)" },
  corsOrigins: { flag: "cors-origins", env: "QUOTECAST_CORS_ORIGINS", kind: "list", help: "origins allowed to subscribe from a browser" },
  metricsHost: { flag: "metrics-host", env: "QUOTECAST_METRICS_HOST", kind: "string", help: "bind address of the metrics endpoint" },
  streamReplicas: { flag: "stream-replicas", env: "QUOTECAST_STREAM_REPLICAS", kind: "int", min: 1, max: 5, help: "replicas of the QUOTES stream when this process creates it (default: inferred)" },
  authHs256SecretFile: { flag: "auth-hs256-secret-file", env: "QUOTECAST_AUTH_HS256_SECRET_FILE", kind: "string", help: "file holding the HS256 token secret (turns authentication on)" },
  natsUser: { flag: "nats-user", env: "QUOTECAST_NATS_USER", kind: "string", help: "NATS user name (with --nats-password; see deploy/nats/permissions.conf)" },
  natsPassword: { flag: "nats-password", env: "QUOTECAST_NATS_PASSWORD", kind: "string", help: "NATS password (prefer the environment variable: flags show in ps)" },
  maxFeedSymbols: { flag: "max-feed-symbols", env: "QUOTECAST_MAX_FEED_SYMBOLS", kind: "int", min: 1, max: 10_000_000, help: "distinct feed symbols a worker keeps; quotes of newer symbols are dropped and counted" },
  compression: { flag: "compression", env: "QUOTECAST_COMPRESSION", kind: "string", help: "off or gzip: compress /quotes for clients whose Accept-Encoding allows it" },
  maxKbps: { flag: "max-kbps", env: "QUOTECAST_MAX_KBPS", kind: "int", min: 0, max: 10_000_000, help: "bandwidth budget per connection, kbit/s: default and ceiling of maxKbps= (0: unlimited)" },
  ingest: { flag: "ingest", env: "QUOTECAST_INGEST", kind: "string", help: "shared (the primary reads NATS once for all workers), per-worker, or auto (per-worker with one worker, shared with more)" },
  streamStorage: { flag: "stream-storage", env: "QUOTECAST_STREAM_STORAGE", kind: "string", help: "QUOTES stream storage when created here: file or memory (faster, lost when NATS restarts)" },
} as const satisfies Record<keyof ServeConfig, OptionSpec>;

/** Distinct feed symbols a worker keeps by default (`--max-feed-symbols`; see docs/faults.md). */
export const DEFAULT_MAX_FEED_SYMBOLS = 100_000;

export const SERVE_DEFAULTS: ServeConfig = {
  port: 8080,
  host: "0.0.0.0",
  natsServers: ["nats://127.0.0.1:4222"],
  workers: availableParallelism(),
  flushMs: 50,
  heartbeatMs: 15_000,
  maxConnections: 100_000,
  maxConnectionsPerIp: 10_000,
  maxConnectRate: 0,
  maxConnectRatePerIp: 200,
  trustProxy: [],
  maxSymbols: 500,
  // Worst case, every symbol unique: ~190 B of heap, ~270 B of RSS each (bench/memory.ts,
  // bench/memory-rss.mjs), so ~380 MB of heap, ~520 MiB of RSS above the baseline, a worker.
  maxWorkerSubscriptions: 2_000_000,
  maxQuoteBytes: 8192,
  slowConsumerMs: 10_000,
  metricsPort: 9464,
  drainMs: 10_000,
  authHs256Secret: undefined,
  authPublicKey: undefined,
  corsOrigins: [],
  metricsHost: "127.0.0.1",
  streamReplicas: undefined,
  authHs256SecretFile: undefined,
  maxFeedSymbols: DEFAULT_MAX_FEED_SYMBOLS,
  natsUser: undefined,
  natsPassword: undefined,
  // Off: see docs/compression-and-budget.md for the measurements behind it.
  compression: "off",
  maxKbps: 0,
  // Per-worker until the shared ingest has run under every fault test (docs/ingest.md).
  ingest: "per-worker",
  streamStorage: "file",
};

/** Flags win over environment variables, which win over defaults. Throws ConfigError. */
export function parseServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServeConfig {
  const specs = Object.entries(SERVE_OPTIONS) as [keyof ServeConfig, OptionSpec][];
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(specs.map(([, s]) => [s.flag, { type: "string" as const }])),
      allowPositionals: false,
      strict: true,
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; see quotecast serve --help`, { cause: err });
  }
  const out: Record<string, unknown> = { ...SERVE_DEFAULTS };
  for (const [key, spec] of specs) {
    const fromFlag = values[spec.flag];
    const raw = fromFlag ?? nonEmpty(env[spec.env]);
    if (raw === undefined) continue;
    const source = fromFlag !== undefined ? `--${spec.flag}` : spec.env;
    out[key] = convert(raw, spec, source);
  }
  if (out.authHs256SecretFile !== undefined) {
    if (out.authHs256Secret !== undefined) throw new ConfigError("give either --auth-hs256-secret or --auth-hs256-secret-file, not both");
    out.authHs256Secret = readSecretFile(out.authHs256SecretFile as string);
  }
  const cfg = out as unknown as ServeConfig;
  try {
    parseTrustedProxies(cfg.trustProxy);
  } catch (err) {
    if (err instanceof InvalidProxyAddressError) throw new ConfigError(`--trust-proxy: ${err.message}`, { cause: err });
    throw err;
  }
  if (cfg.natsServers.length === 0) throw new ConfigError("--nats needs at least one server URL");
  if (cfg.authHs256Secret !== undefined && cfg.authPublicKey !== undefined) {
    throw new ConfigError("give either --auth-hs256-secret or --auth-public-key, not both");
  }
  if (cfg.corsOrigins.some((o) => o !== "*" && !/^https?:\/\/[^/\s]+$/i.test(o))) {
    throw new ConfigError(`--cors-origins takes exact origins such as https://app.example.com (scheme, host, optional port; no path), or *; got ${JSON.stringify(cfg.corsOrigins.join(","))}`);
  }
  if (cfg.compression !== "off" && cfg.compression !== "gzip") {
    throw new ConfigError(`--compression takes off or gzip, got ${JSON.stringify(cfg.compression)}`);
  }
  if (!(INGEST_MODES as readonly string[]).includes(cfg.ingest)) {
    throw new ConfigError(`--ingest takes ${INGEST_MODES.slice(0, -1).join(", ")} or ${INGEST_MODES.at(-1)}, got ${JSON.stringify(cfg.ingest)}`);
  }
  if (!(STREAM_STORAGES as readonly string[]).includes(cfg.streamStorage)) {
    throw new ConfigError(`--stream-storage takes ${STREAM_STORAGES.join(" or ")}, got ${JSON.stringify(cfg.streamStorage)}`);
  }
  if (cfg.metricsPort !== 0 && cfg.metricsPort === cfg.port) {
    throw new ConfigError(`--metrics-port ${cfg.metricsPort} is the same as --port: choose another`);
  }
  return cfg;
}

/** The secret is the file's content without its trailing line break (editors and `echo` add one). */
function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`--auth-hs256-secret-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret === "") throw new ConfigError(`--auth-hs256-secret-file: ${path} is empty`);
  return secret;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === "" ? undefined : s;
}

function convert(raw: string, spec: OptionSpec, source: string): string | number | string[] {
  switch (spec.kind) {
    case "string":
      return raw;
    case "list":
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    case "int": {
      if (!/^\s*\d+\s*$/.test(raw)) throw new ConfigError(`${source} must be a whole number, got ${JSON.stringify(raw)}`);
      const n = Number(raw);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${source} must be at least ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${source} must be at most ${spec.max}, got ${n}`);
      return n;
    }
  }
}
