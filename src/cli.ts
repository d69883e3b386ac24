#!/usr/bin/env node
import cluster from "node:cluster";
import { ConfigError } from "./config/config-error.js";
import { parseServeConfig, SERVE_OPTIONS, SERVE_DEFAULTS } from "./config/serve-config.js";
import { flushLogger, logger } from "./log/logger.js";
import { runPrimary } from "./cluster/primary.js";
import { workerMain } from "./cluster/worker-main.js";
import { loadNativeUws } from "./http/uws.js";
import { runFeed } from "./simulator/run-feed.js";
import { createTokenVerifier } from "./auth/token-verifier.js";

const USAGE = `usage: quotecast <command> [options]

commands:
  serve   the SSE server: a primary supervising --workers processes on one port
  feed    the feed simulator: publishes realistic quotes to NATS

quotecast serve --help and quotecast feed --help list the options.`;

function serveHelp(): string {
  const lines = Object.entries(SERVE_OPTIONS).map(([key, o]) => {
    const def = SERVE_DEFAULTS[key as keyof typeof SERVE_DEFAULTS];
    const shown = Array.isArray(def) ? def.join(",") : def;
    return `  --${o.flag.padEnd(26)} ${o.env.padEnd(36)} ${o.help}${shown === undefined || shown === "" ? "" : ` (default ${shown})`}`;
  });
  return `usage: quotecast serve [options]   (flags win over environment variables)\n\n${lines.join("\n")}`;
}

async function main(argv: string[]): Promise<number> {
  if (cluster.isWorker) return workerMain();
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      if (rest.includes("--help") || rest.includes("-h")) {
        console.log(serveHelp());
        return 0;
      }
      const cfg = parseServeConfig(rest, process.env);
      // An unreadable key or a short secret stops the start here, once, not in every worker.
      createTokenVerifier({ hs256Secret: cfg.authHs256Secret, publicKeyFile: cfg.authPublicKey });
      // Fail here, once, with a clear message, rather than in every worker.
      const { binary } = loadNativeUws();
      logger.info({ config: cfg, uws: binary }, "quotecast serve starting");
      return runPrimary(cfg, logger.child({ role: "primary" }));
    }
    case "feed":
      return runFeed(rest, process.env);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
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
