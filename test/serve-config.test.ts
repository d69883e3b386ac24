import t from "tap";
import { availableParallelism } from "node:os";
import { ConfigError } from "../src/config/config-error.js";
import { parseServeConfig, SERVE_DEFAULTS, sharedIngest } from "../src/config/serve-config.js";

/** The ConfigError message a parse fails with; fails the test when it succeeds. */
function configError(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseServeConfig(argv, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
  throw new Error(`accepted ${JSON.stringify({ argv, env })}`);
}

t.test("serve-config - defaults within the contract's bounds", async (t) => {
  const cfg = parseServeConfig([], {});
  t.same(cfg, SERVE_DEFAULTS);
  t.same(cfg, {
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
    maxFeedSymbols: 100_000,
    natsUser: undefined,
    natsPassword: undefined,
    compression: "off",
    maxKbps: 0,
    ingest: "per-worker",
    streamStorage: "file",
  });
});

t.test("serve-config - environment variables are used", async (t) => {
  const cfg = parseServeConfig([], {
    QUOTECAST_PORT: "9000",
    QUOTECAST_HOST: "127.0.0.1",
    NATS_URL: "nats://a:4222,nats://b:4222",
    QUOTECAST_WORKERS: "3",
    QUOTECAST_FLUSH_MS: "25",
    QUOTECAST_HEARTBEAT_MS: "5000",
    QUOTECAST_MAX_CONNECTIONS: "2000",
    QUOTECAST_MAX_CONNECTIONS_PER_IP: "20",
    QUOTECAST_MAX_CONNECT_RATE: "100",
    QUOTECAST_MAX_CONNECT_RATE_PER_IP: "0",
    QUOTECAST_TRUST_PROXY: "10.0.0.1",
    QUOTECAST_MAX_SYMBOLS: "200",
    QUOTECAST_MAX_WORKER_SUBSCRIPTIONS: "50000",
    QUOTECAST_MAX_QUOTE_BYTES: "4096",
    QUOTECAST_SLOW_CONSUMER_MS: "3000",
    QUOTECAST_METRICS_PORT: "9100",
    QUOTECAST_DRAIN_MS: "2000",
    QUOTECAST_CORS_ORIGINS: "https://a.example",
    QUOTECAST_METRICS_HOST: "0.0.0.0",
    QUOTECAST_STREAM_REPLICAS: "3",
    QUOTECAST_MAX_FEED_SYMBOLS: "5000",
    QUOTECAST_COMPRESSION: "gzip",
    QUOTECAST_MAX_KBPS: "256",
    QUOTECAST_INGEST: "shared",
    QUOTECAST_STREAM_STORAGE: "memory",
  });
  t.same(cfg, {
    port: 9000,
    host: "127.0.0.1",
    natsServers: ["nats://a:4222", "nats://b:4222"],
    workers: 3,
    flushMs: 25,
    heartbeatMs: 5000,
    maxConnections: 2000,
    maxConnectionsPerIp: 20,
    maxConnectRate: 100,
    maxConnectRatePerIp: 0,
    trustProxy: ["10.0.0.1"],
    maxSymbols: 200,
    maxWorkerSubscriptions: 50_000,
    maxQuoteBytes: 4096,
    slowConsumerMs: 3000,
    metricsPort: 9100,
    drainMs: 2000,
    authHs256Secret: undefined,
    authPublicKey: undefined,
    corsOrigins: ["https://a.example"],
    metricsHost: "0.0.0.0",
    streamReplicas: 3,
    authHs256SecretFile: undefined,
    maxFeedSymbols: 5000,
    natsUser: undefined,
    natsPassword: undefined,
    compression: "gzip",
    maxKbps: 256,
    ingest: "shared",
    streamStorage: "memory",
  });
});

t.test("serve-config - --compression takes off or gzip; --max-kbps a whole number, 0 for none", async (t) => {
  t.equal(parseServeConfig(["--compression", "gzip"], {}).compression, "gzip");
  t.equal(parseServeConfig(["--compression=off"], { QUOTECAST_COMPRESSION: "gzip" }).compression, "off", "the flag wins");
  t.equal(configError(["--compression", "br"]), '--compression takes off or gzip, got "br"');
  t.equal(parseServeConfig(["--max-kbps", "0"], {}).maxKbps, 0);
  t.equal(configError(["--max-kbps", "12.5"]), '--max-kbps must be a whole number, got "12.5"');
  t.equal(configError([], { QUOTECAST_MAX_KBPS: "-1" }), 'QUOTECAST_MAX_KBPS must be a whole number, got "-1"');
});

t.test("serve-config - a flag beats its environment variable", async (t) => {
  const env = { QUOTECAST_PORT: "9000", QUOTECAST_FLUSH_MS: "25", NATS_URL: "nats://env:4222" };
  const cfg = parseServeConfig(["--port", "7000", "--flush-ms=10", "--nats", "nats://flag:4222"], env);
  t.equal(cfg.port, 7000);
  t.equal(cfg.flushMs, 10, "--flag=value form");
  t.same(cfg.natsServers, ["nats://flag:4222"]);
  t.equal(parseServeConfig(["--port", "7000"], env).flushMs, 25, "other options still come from the environment");
});

t.test("serve-config - lists are split on commas and trimmed, empty items dropped", async (t) => {
  const cfg = parseServeConfig(
    ["--nats", " nats://a:4222 , nats://b:4222,,", "--cors-origins", "https://a.example, https://b.example"],
    { QUOTECAST_TRUST_PROXY: "10.0.0.1 ,  ::1" },
  );
  t.same(cfg.natsServers, ["nats://a:4222", "nats://b:4222"]);
  t.same(cfg.corsOrigins, ["https://a.example", "https://b.example"]);
  t.same(cfg.trustProxy, ["10.0.0.1", "::1"]);
});

t.test("serve-config - an empty environment variable is ignored", async (t) => {
  const cfg = parseServeConfig([], { QUOTECAST_PORT: "", QUOTECAST_WORKERS: "   ", NATS_URL: "", QUOTECAST_HOST: "" });
  t.equal(cfg.port, 8080);
  t.equal(cfg.workers, availableParallelism());
  t.same(cfg.natsServers, ["nats://127.0.0.1:4222"]);
  t.equal(cfg.host, "0.0.0.0");
});

t.test("serve-config - numbers with surrounding spaces are read", async (t) => {
  t.equal(parseServeConfig([], { QUOTECAST_PORT: " 9000 " }).port, 9000);
});

t.test("serve-config - a bad whole number names the flag or the variable", async (t) => {
  t.equal(configError(["--port", "80a"]), '--port must be a whole number, got "80a"');
  t.equal(configError([], { QUOTECAST_PORT: "80a" }), 'QUOTECAST_PORT must be a whole number, got "80a"');
  t.equal(configError(["--flush-ms", "12.5"]), '--flush-ms must be a whole number, got "12.5"');
  t.equal(configError([], { QUOTECAST_WORKERS: "1e2" }), 'QUOTECAST_WORKERS must be a whole number, got "1e2"');
  t.equal(configError(["--drain-ms=-5"]), '--drain-ms must be a whole number, got "-5"');
  t.equal(configError(["--port="]), '--port must be a whole number, got ""', "an empty flag is not ignored");
});

t.test("serve-config - below min or above max is refused", async (t) => {
  t.equal(configError(["--workers", "0"]), "--workers must be at least 1, got 0");
  t.equal(configError([], { QUOTECAST_WORKERS: "257" }), "QUOTECAST_WORKERS must be at most 256, got 257");
  t.equal(configError(["--port", "65536"]), "--port must be at most 65535, got 65536");
  t.equal(configError(["--flush-ms", "0"]), "--flush-ms must be at least 1, got 0");
  t.equal(configError(["--heartbeat-ms", "99"]), "--heartbeat-ms must be at least 100, got 99");
  t.equal(configError(["--max-quote-bytes", "63"]), "--max-quote-bytes must be at least 64, got 63");
  t.equal(configError(["--max-symbols", "100001"]), "--max-symbols must be at most 100000, got 100001");
  t.equal(parseServeConfig(["--workers", "256", "--port", "65535"], {}).workers, 256, "the bounds themselves pass");
  t.equal(parseServeConfig(["--max-connect-rate", "0"], {}).maxConnectRate, 0, "0 means no limit");
});

t.test("serve-config - unknown flags and positional arguments are refused", async (t) => {
  t.equal(configError(["--bogus", "1"]), "Unknown option '--bogus'; see quotecast serve --help");
  t.equal(configError(["extra"]), "Unexpected argument 'extra'. This command does not take positional arguments; see quotecast serve --help");
  t.equal(configError(["--port"]), "Option '--port <value>' argument missing; see quotecast serve --help");
});

t.test("serve-config - the metrics port must differ from the HTTP port", async (t) => {
  t.equal(configError(["--port", "9464"]), "--metrics-port 9464 is the same as --port: choose another");
  t.equal(configError([], { QUOTECAST_PORT: "9000", QUOTECAST_METRICS_PORT: "9000" }), "--metrics-port 9000 is the same as --port: choose another");
  const off = parseServeConfig(["--port", "0", "--metrics-port", "0"], {});
  t.same([off.port, off.metricsPort], [0, 0], "both 0 (ephemeral / off) is allowed");
});

t.test("serve-config - a NATS list with no URL is refused", async (t) => {
  t.equal(configError(["--nats", " , "]), "--nats needs at least one server URL");
});

t.test("serve-config - authentication and CORS options are checked", async (t) => {
  t.equal(parseServeConfig(["--auth-hs256-secret", "s3cret"], {}).authHs256Secret, "s3cret");
  t.equal(parseServeConfig([], { QUOTECAST_AUTH_PUBLIC_KEY: "/etc/qc/jwks.json" }).authPublicKey, "/etc/qc/jwks.json");
  t.throws(() => parseServeConfig(["--auth-hs256-secret", "s3cret", "--auth-public-key", "/k.pem"], {}), { name: "ConfigError", message: /not both/ });
  t.throws(() => parseServeConfig(["--cors-origins", "https://a.example/path"], {}), { name: "ConfigError", message: /exact origins/ });
  t.same(parseServeConfig(["--cors-origins", "*"], {}).corsOrigins, ["*"]);
});

t.test("serve-config - --trust-proxy takes addresses and CIDR ranges, IPv4 and IPv6", async (t) => {
  t.same(parseServeConfig(["--trust-proxy", "10.0.0.0/8, fd00::/8,::1,192.168.1.7"], {}).trustProxy, ["10.0.0.0/8", "fd00::/8", "::1", "192.168.1.7"]);
  t.match(configError(["--trust-proxy", "10.0.0.0/8,ingress-nginx"], {}), /^--trust-proxy: "ingress-nginx" is not an IP address or CIDR range/);
  t.match(configError([], { QUOTECAST_TRUST_PROXY: "10.0.0.0/40" }), /prefix length must be 0 to 32/);
});

t.test("serve-config - --stream-replicas 1 to 5, --metrics-host", async (t) => {
  t.equal(parseServeConfig(["--stream-replicas", "5"], {}).streamReplicas, 5);
  t.match(configError(["--stream-replicas", "0"]), /at least 1/);
  t.match(configError(["--stream-replicas", "6"]), /at most 5/);
  t.equal(parseServeConfig(["--metrics-host", "::"], {}).metricsHost, "::");
});

t.test("serve-config - --ingest auto: per-worker with one worker, shared with more", async (t) => {
  t.equal(parseServeConfig(["--ingest", "auto"], {}).ingest, "auto");
  t.equal(sharedIngest({ ingest: "auto", workers: 1 }), false, "one worker reads NATS itself: no IPC hop");
  t.equal(sharedIngest({ ingest: "auto", workers: 2 }), true);
  t.equal(sharedIngest({ ingest: "shared", workers: 1 }), true, "shared is shared, even for one worker");
  t.equal(sharedIngest({ ingest: "per-worker", workers: 4 }), false);
  t.equal(configError(["--ingest", "both"]), '--ingest takes auto, shared or per-worker, got "both"');
});
