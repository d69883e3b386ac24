import t from "tap";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../src/config/config-error.js";
import { parseFeedArgs } from "../src/simulator/feed-config.js";
import { parseServeConfig } from "../src/config/serve-config.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { startQuotecast } from "./helpers/quotecast.js";

// The command line as an operator meets it: help on stdout with exit 0, usage errors on stderr
// with exit 2, a version, and secrets that stay out of `ps` and out of the logs.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/cli.js");
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** Run the CLI; resolves with its exit code and output (commands run concurrently: each is a Node start). */
function quotecast(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, QUOTECAST_PORT: "", NATS_URL: "" } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : null, stdout, stderr });
    });
  });
}

t.test("cli - --version and -v print the version and exit 0", async (t) => {
  const runs = await Promise.all(["--version", "-v"].map(async (flag) => [flag, await quotecast(flag)] as const));
  for (const [flag, r] of runs) {
    t.equal(r.code, 0, flag);
    t.equal(r.stdout, `${VERSION}\n`);
    t.equal(r.stderr, "");
  }
});

t.test("cli - bare quotecast, help and --help print usage to stdout and exit 0", async (t) => {
  const runs = await Promise.all([[], ["--help"], ["-h"], ["help"]].map(async (args) => [args, await quotecast(...args)] as const));
  for (const [args, r] of runs) {
    t.equal(r.code, 0, `quotecast ${args.join(" ")}`);
    t.match(r.stdout, /^usage: quotecast <command>/);
    t.match(r.stdout, /serve[^\n]+\n\s+feed/);
    t.equal(r.stderr, "");
  }
});

t.test("cli - a usage error goes to stderr with exit 2 and nothing on stdout", async (t) => {
  const cases = [["bogus"], ["serve", "--bogus"], ["serve", "--port", "http"], ["feed", "--rate", "fast"], ["feed", "extra"], ["serve", "--trust-proxy", "10.0.0.0/33"], ["serve", "--stream-replicas", "7"]];
  const runs = await Promise.all(cases.map(async (args) => [args, await quotecast(...args)] as const));
  for (const [args, r] of runs) {
    t.equal(r.code, 2, `quotecast ${args.join(" ")}`);
    t.equal(r.stdout, "", "nothing on stdout");
    t.match(r.stderr, /^quotecast: /);
    t.notMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

t.test("cli - serve and feed help: one format, every option with its environment variable, LOG_LEVEL", async (t) => {
  const runs = await Promise.all(["serve", "feed"].map(async (command) => [command, await quotecast(command, "--help")] as const));
  for (const [command, r] of runs) {
    t.equal(r.code, 0);
    t.equal(r.stderr, "");
    t.match(r.stdout, new RegExp(`^usage: quotecast ${command} \\[options\\]\\n\\n`));
    t.match(r.stdout, /\noptions \(flag, environment variable; flags win\):\n/);
    t.match(r.stdout, /\nenvironment:\n\s+LOG_LEVEL\s+pino level/);
    const rows = r.stdout.split("\n").filter((l) => l.startsWith("  --"));
    t.ok(rows.length >= 7, `${command}: ${rows.length} options`);
    for (const row of rows) t.match(row, /^ {2}--[a-z0-9-]+ +(NATS_URL|QUOTECAST_[A-Z0-9_]+) +\S/, row.trim().split(" ")[0]!);
    t.match(r.stdout, /--stream-replicas +QUOTECAST_STREAM_REPLICAS/, `${command} takes --stream-replicas`);
  }
  const serveHelp = runs[0]![1].stdout;
  t.match(serveHelp, /--metrics-host +QUOTECAST_METRICS_HOST .*\(default 127\.0\.0\.1\)/);
  t.match(serveHelp, /--auth-hs256-secret-file +QUOTECAST_AUTH_HS256_SECRET_FILE/);
});

t.test("cli - feed reads QUOTECAST_FEED_* and NATS_URL like serve; flags win; env errors name the variable", async (t) => {
  const env = { NATS_URL: "nats://n1:4222,nats://n2:4222", QUOTECAST_FEED_RATE: "250", QUOTECAST_FEED_SYMBOLS: "30", QUOTECAST_FEED_DURATION: "5", QUOTECAST_FEED_SEED: "7", QUOTECAST_STREAM_REPLICAS: "3" };
  const cfg = parseFeedArgs([], env);
  t.same(cfg.servers, ["nats://n1:4222", "nats://n2:4222"]);
  t.equal(cfg.rate, 250);
  t.same(cfg.universe, { kind: "generated", count: 30 });
  t.equal(cfg.durationSec, 5);
  t.equal(cfg.seed, 7);
  t.equal(cfg.streamReplicas, 3);
  t.equal(parseFeedArgs(["--rate", "10", "--stream-replicas", "1"], env).rate, 10, "the flag wins");
  t.equal(parseFeedArgs(["--stream-replicas", "1"], env).streamReplicas, 1);
  t.same(parseFeedArgs([], { QUOTECAST_FEED_SYMBOL_LIST: "aapl,msft" }).universe, { kind: "list", symbols: ["AAPL", "MSFT"] });
  t.equal(parseFeedArgs([], { QUOTECAST_FEED_RATE: "" }).rate, 1000, "an empty variable is unset");
  t.throws(() => parseFeedArgs([], { QUOTECAST_FEED_RATE: "fast" }), { name: "ConfigError", message: /^QUOTECAST_FEED_RATE must be/ });
  t.throws(() => parseFeedArgs(["--rate", "fast"], {}), { message: /^--rate must be/ });
  t.throws(() => parseFeedArgs([], { QUOTECAST_STREAM_REPLICAS: "6" }), { message: /QUOTECAST_STREAM_REPLICAS must be a whole number from 1 to 5/ });
});

t.test("cli - the HS256 secret from a file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qc-secret-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "secret");
  writeFileSync(file, "x".repeat(40) + "\n");
  t.equal(parseServeConfig(["--auth-hs256-secret-file", file], {}).authHs256Secret, "x".repeat(40), "without its trailing line break");
  t.equal(parseServeConfig([], { QUOTECAST_AUTH_HS256_SECRET_FILE: file }).authHs256Secret, "x".repeat(40));
  const fail = (argv: string[], env: NodeJS.ProcessEnv, pattern: RegExp) => {
    try {
      parseServeConfig(argv, env);
      t.fail(`accepted ${argv.join(" ")}`);
    } catch (err) {
      t.ok(err instanceof ConfigError, "a ConfigError");
      t.match((err as Error).message, pattern);
    }
  };
  fail(["--auth-hs256-secret-file", join(dir, "nope")], {}, /--auth-hs256-secret-file: cannot read .*nope: ENOENT/);
  fail(["--auth-hs256-secret-file", file, "--auth-hs256-secret", "y".repeat(40)], {}, /either --auth-hs256-secret or --auth-hs256-secret-file/);
  writeFileSync(join(dir, "empty"), "\n");
  fail(["--auth-hs256-secret-file", join(dir, "empty")], {}, /is empty/);
  fail(["--auth-hs256-secret-file", file, "--auth-public-key", file], {}, /either --auth-hs256-secret or --auth-public-key/);
});

t.test("cli - the start-up log says whether auth is on, never the secret, and no [redacted] when none is set", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const dir = mkdtempSync(join(tmpdir(), "qc-secret-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secret = "correct-horse-battery-staple-" + "z".repeat(20);
  writeFileSync(join(dir, "secret"), secret);
  // Two separate servers, one without auth and one with, started at once: each log is its own.
  const [off, on] = await Promise.all([startQuotecast({ nats: nats.url }), startQuotecast({ nats: nats.url, env: { QUOTECAST_AUTH_HS256_SECRET_FILE: join(dir, "secret") } })]);
  await Promise.all([off.stop(), on.stop()]);
  const start = off.output().split("\n").find((l) => l.includes("quotecast serve starting"))!;
  t.match(start, /"auth":"off"/);
  t.notMatch(start, /redacted|authHs256Secret/);
  t.match(start, new RegExp(`"version":"${VERSION.replace(/\./g, "\\.")}"`));

  t.match(on.output(), /"auth":"hs256 \(secret from [^"]+secret\)"/);
  t.notMatch(on.output(), new RegExp(secret), "the secret is in no log line");
  t.notMatch(on.output(), /redacted/);
});
