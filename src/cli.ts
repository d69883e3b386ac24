#!/usr/bin/env node
import cluster from "node:cluster";
import { ConfigError } from "./config/config-error.js";
import { readFileSync } from "node:fs";
import { commandHelp } from "./config/help.js";
import { parseServeConfig, SERVE_OPTIONS, SERVE_DEFAULTS, type ServeConfig } from "./config/serve-config.js";
import { flushLogger, logger } from "./log/logger.js";
import { runPrimary } from "./cluster/primary.js";
import { workerMain } from "./cluster/worker-main.js";
import { loadNativeUws, NativeUwsUnavailableError } from "./http/uws.js";
import { runFeed } from "./simulator/run-feed.js";
import { createTokenVerifier } from "./auth/token-verifier.js";

const USAGE = `usage: quotecast <command> [options]

commands:
  serve   the SSE server: a primary supervising --workers processes on one port
  feed    the feed simulator: publishes realistic quotes to NATS

options:
  -h, --help      this help
  -v, --version   print the version and exit

quotecast serve --help and quotecast feed --help list each command's options.
exit codes: 0 done (or drained after SIGTERM/SIGINT), 1 failed at run time, 2 usage or configuration error.`;

function serveHelp(): string {
  const rows = Object.entries(SERVE_OPTIONS).map(([key, o]) => ({
    ...o,
    default: key === "workers" ? `the number of CPUs, ${SERVE_DEFAULTS.workers} here` : SERVE_DEFAULTS[key as keyof typeof SERVE_DEFAULTS],
  }));
  return commandHelp("serve", "The SSE server: a primary supervising --workers processes, each serving HTTP on the same port.", rows);
}

/** The version in package.json (dist/cli.js is one level below it). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** What the start-up log says about authentication: whether it is on and how, never the secret. */
function authMode(cfg: ServeConfig): string {
  if (cfg.authHs256Secret !== undefined) return cfg.authHs256SecretFile !== undefined ? `hs256 (secret from ${cfg.authHs256SecretFile})` : "hs256";
  if (cfg.authPublicKey !== undefined) return `public key ${cfg.authPublicKey}`;
  return "off";
}

async function main(argv: string[]): Promise<number> {
  if (cluster.isWorker) return workerMain();
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      if (rest.includes("--help") || rest.includes("-h")) {
        process.stdout.write(serveHelp());
        return 0;
      }
      const cfg = parseServeConfig(rest, process.env);
      // An unreadable key or a short secret stops the start here, once, not in every worker.
      createTokenVerifier({ hs256Secret: cfg.authHs256Secret, publicKeyFile: cfg.authPublicKey });
      // Fail here, once, with a clear message, rather than in every worker.
      const { binary, build } = loadNativeUws();
      // Secrets are left out rather than shown as "[redacted]": the line says whether each is set.
      const { authHs256Secret: _secret, natsPassword: _natsPassword, ...shown } = cfg;
      const natsAuth = cfg.natsUser === undefined ? "none" : `user ${cfg.natsUser}${cfg.natsPassword === undefined ? "" : " with password"}`;
      logger.info({ version: version(), node: process.versions.node, config: shown, auth: authMode(cfg), natsAuth, uws: { build, binary } }, "quotecast serve starting");
      return runPrimary(cfg, logger.child({ role: "primary" }));
    }
    case "feed":
      return runFeed(rest, process.env);
    case "--version":
    case "-v":
    case "version":
      console.log(version());
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      console.error(`quotecast: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    flushLogger();
    process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof NativeUwsUnavailableError) {
      // The message is the whole story (what was tried, why each failed, what to do): no stack.
      logger.fatal({ err: { type: err.name, message: err.message } }, "quotecast cannot run here");
      console.error(`quotecast: ${err.message}`);
      flushLogger();
      process.exit(1);
    }
    if (err instanceof ConfigError) {
      console.error(`quotecast: ${err.message}`);
      flushLogger();
      process.exit(2);
    }
    logger.fatal({ err }, "quotecast failed");
    console.error(`quotecast: ${(err as Error)?.message ?? String(err)}`);
    flushLogger();
    process.exit(1);
  },
);
