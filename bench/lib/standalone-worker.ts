// Profiling entry: one quotecast worker without the cluster primary, because clinic refuses
// clustered processes ("clinic doctor does not support clustering"). It runs the same code a
// forked worker runs, workerMain() with the config the primary would hand it, compiled from
// src/ by tsconfig.bench.json; admission is local (no primary to ask) and the metrics port is
// not served (the primary serves it).
//
//   node standalone-worker.js --port 8080 --nats nats://127.0.0.1:4222 [serve flags]

import { parseServeConfig } from "../../src/config/serve-config.js";
import { workerMain } from "../../src/cluster/worker-main.js";
import { CONFIG_ENV } from "../../src/cluster/primary.js";

process.env[CONFIG_ENV] = JSON.stringify(parseServeConfig(process.argv.slice(2), process.env));
process.exit(await workerMain());
