// The one bench runner: `npm run bench [-- options]`. Runs each scenario against quotecast and
// the baseline under the same load on this machine, prints a table, and writes the results
// with the machine and date (bench/results/, bench/RESULTS.md).
//
//   node build/bench/bench/run.js [fanout] [fanout-random] [ingest] [capacity]
//     (default: the first three; capacity takes minutes and is run only when named)
//     --connections N   fan-out subscribers (env BENCH_CONNECTIONS, default 1000, capped by ulimit -n)
//     --duration S      fan-out measurement seconds (env BENCH_DURATION, default 20; fanout-random half)
//     --rate N          fan-out feed quotes/s (env BENCH_RATE, default 2000)
//     --ingest-rates L  comma list (env BENCH_INGEST_RATES, default 20000,50000,100000,200000)
//     --step S          seconds per ingest rate (env BENCH_STEP, default 6)
//     --capacity-target N  capacity: stop at this many connections (env BENCH_CAPACITY_TARGET, default 36000)
//     --capacity-step N    capacity: connections added per step (env BENCH_CAPACITY_STEP, default 2000)
//     --capacity-rate N    capacity: feed quotes/s (env BENCH_CAPACITY_RATE, default 3)
//     --quick           a smoke run: 200 connections, 5 s windows, two ingest rates, capacity to 6000
//     --no-write        print only, write no result files

import { parseArgs } from "node:util";
import { findNatsServerBinary } from "../test/helpers/nats-server.js";
import { runCapacity } from "./capacity.js";
import { runFanout, type FanoutOptions } from "./fanout.js";
import { runIngest } from "./ingest.js";
import { cleanupAll, installCleanupHooks, openFileLimit } from "./lib/processes.js";
import { fmt, machine, markdownTable, SHARED_NOTE, writeResults, type ScenarioResult } from "./lib/report.js";

const SCENARIOS = ["fanout", "fanout-random", "ingest", "capacity"] as const;
type Scenario = (typeof SCENARIOS)[number];
const DEFAULT_SCENARIOS: Scenario[] = ["fanout", "fanout-random", "ingest"];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    connections: { type: "string" },
    duration: { type: "string" },
    rate: { type: "string" },
    "ingest-rates": { type: "string" },
    step: { type: "string" },
    "capacity-target": { type: "string" },
    "capacity-step": { type: "string" },
    "capacity-rate": { type: "string" },
    quick: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});

function num(flag: string | undefined, env: string, fallback: number): number {
  const raw = flag ?? process.env[env];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!(n > 0)) throw new Error(`${env} / --${env.slice(6).toLowerCase()} must be a positive number, got ${raw}`);
  return n;
}

const quick = values.quick ?? false;
const log = (s: string) => process.stderr.write(s + "\n");

async function main(): Promise<number> {
  const chosen = positionals.length === 0 ? [...DEFAULT_SCENARIOS] : positionals;
  for (const s of chosen) if (!SCENARIOS.includes(s as Scenario)) throw new Error(`unknown scenario ${s}; choose from ${SCENARIOS.join(", ")}`);

  // Each client socket is a file descriptor in this process (and one in the server).
  const fdRoom = openFileLimit() - 256;
  let connections = num(values.connections, "BENCH_CONNECTIONS", quick ? 200 : 1000);
  if (connections > fdRoom) {
    log(`bench: ulimit -n allows ${fdRoom + 256} descriptors: using ${fdRoom} connections instead of ${connections}`);
    connections = fdRoom;
  }
  const duration = num(values.duration, "BENCH_DURATION", quick ? 5 : 20);
  const fanout: FanoutOptions = {
    connections,
    mix: "same",
    perConnection: 10,
    universe: 50,
    rate: num(values.rate, "BENCH_RATE", 2000),
    flushMs: 50,
    warmupSec: quick ? 2 : 3,
    durationSec: duration,
    sampleEvery: 20,
  };
  const ratesRaw = values["ingest-rates"] ?? process.env.BENCH_INGEST_RATES ?? (quick ? "20000,100000" : "20000,50000,100000,200000");
  const rates = ratesRaw.split(",").map((r) => num(r, "BENCH_INGEST_RATES", 0));

  const m = machine(findNatsServerBinary());
  log(`bench: ${m.date}, nproc ${m.nproc}, ${m.cpu}, node ${m.node}; ${SHARED_NOTE}`);
  const results: ScenarioResult[] = [];
  for (const s of chosen as Scenario[]) {
    if (s === "fanout") results.push(await runFanout(fanout, log));
    if (s === "fanout-random") results.push(await runFanout({ ...fanout, mix: "random", perConnection: 5, durationSec: Math.max(5, Math.round(duration / 2)) }, log));
    if (s === "ingest") {
      results.push(
        await runIngest({ rates, stepSec: num(values.step, "BENCH_STEP", quick ? 4 : 6), universe: 500, connections: 10, flushMs: 50, keepUp: 0.95, freshP99Ms: 250 }, log),
      );
    }
    if (s === "capacity") {
      results.push(
        await runCapacity(
          {
            target: num(values["capacity-target"], "BENCH_CAPACITY_TARGET", quick ? 6000 : 36_000),
            step: num(values["capacity-step"], "BENCH_CAPACITY_STEP", 2000),
            clients: 3,
            universe: 50,
            perConnection: 10,
            rate: num(values["capacity-rate"], "BENCH_CAPACITY_RATE", 3),
            flushMs: 50,
            settleSec: 2,
            windowSec: 5,
            sampleEvery: 20,
            p99LimitMs: 2000,
          },
          log,
        ),
      );
    }
  }

  for (const r of results) {
    console.log(`\n### ${r.title}\n${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(", ")}\n\n${markdownTable(r.rows)}\n`);
    for (const d of r.details) console.log(d + "\n");
  }
  if (!values["no-write"]) {
    const files = writeResults(m, results, ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "));
    log(`bench: wrote ${files.map((f) => f.slice(f.indexOf("bench/results/"))).join(", ")} and appended bench/RESULTS.md`);
  }
  log(`bench: done (connections ${fmt(connections)})`);
  return 0;
}

installCleanupHooks(cleanupAll);
main()
  .catch((err: unknown) => {
    log(`bench failed: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  })
  .then(async (code) => {
    await cleanupAll();
    process.exit(code);
  });
