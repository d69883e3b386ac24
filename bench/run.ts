// The bench runner: `npm run bench [-- scenarios] [options]`. Races quotecast against its
// baselines (the ceiling, the naive server, nchan) under the same load on this machine,
// appends one JSON line per run to bench/results/runs.jsonl and regenerates bench/RESULTS.md
// and bench/results/p99-vs-connections.svg. Never part of `npm test`.
//
//   node build/bench/bench/run.js [matrix] [alloc] [idle] [slow] [storm] [soak] [bandwidth] [capacity]
//     (default: all but capacity, which takes long and runs only when named)
//     --quick              smoke run: small counts, short windows (about 3 minutes)
//     --servers L          comma list of quotecast,ceiling,naive,nchan,node-coalescing
//                          (default: all but node-coalescing; nchan only when installed)
//     --connections L      matrix connection counts (default 1000,5000,10000,18000)
//     --rates L            matrix feed rates, quotes/s (default 2000,5000)
//     --peer-max N         naive and nchan run up to this many connections (default 5000)
//     --measure S          seconds measured per run (default 10)
//     --soak-seconds S     soak churn time (default 40)
//     --capacity-rate N    capacity feed rate (default 2000)
//     --capacity-flush MS  capacity flush window (default 50)
//     --workers2           also run quotecast with 2 workers in the matrix
//     --modes L            quotecast update modes the bandwidth scenario compares (default
//                          full,delta,gzip,delta-gzip; see bench/lib/modes.ts)
//     --mix M              the publisher's quotes: market (default) or every-field
//     --bandwidth-connections N  connections in the bandwidth scenario (default 5000)
//     --repeat N           rounds of the bandwidth scenario's runs under the feed, modes
//                          interleaved; figures are medians of the rounds (default 3; --quick 1)
//     --ingest-rates L     ingest feed rates (default 10000,25000,50000,100000,200000)
//     --ingest-variants L  quotecast runs per ingest rate: 1, 2 (workers, shared ingest), 2pw
//                          (2 workers, --ingest per-worker) (default 1,2)
//     --ingest-connections N  SSE connections in the ingest scenario (default 1000; 0: ingest alone)
//     --ingest-storage S   QUOTES stream storage in the ingest scenario: memory or file (default memory)
//     --ingest-cpu-prof DIR  run quotecast under `node --cpu-prof` (primary and workers), profiles in DIR
//     (ingest runs only when named; --measure sets its window too, default 30 s)
//     --no-write           print only
//   Environment: BENCH_* equivalents are not read; flags only.

import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { findNatsServerBinary } from "../test/helpers/nats-server.js";
import { NCHAN_INSTALL, findNginxWithNchan } from "./baseline/nchan.js";
import { PER_PROCESS, SOURCE_ADDRESSES } from "./lib/loadgen.js";
import { cleanupAll, installCleanupHooks, openFileLimit } from "./lib/processes.js";
import { BANDWIDTH_MODES, parseModes } from "./lib/modes.js";
import { machine } from "./lib/report.js";
import { appendRun, invocationRuns, readRuns, writeSummary } from "./lib/results.js";
import { SERVER_KINDS, type ServerKind } from "./lib/servers.js";
import { CAPACITY_STEPS, DEFAULT_SCENARIOS, SCENARIOS, judge, runScenario, type Scenario, type SuiteOptions } from "./suite.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: "boolean", default: false },
    servers: { type: "string" },
    connections: { type: "string" },
    rates: { type: "string" },
    "peer-max": { type: "string" },
    measure: { type: "string" },
    "soak-seconds": { type: "string" },
    "capacity-rate": { type: "string" },
    "capacity-flush": { type: "string" },
    workers2: { type: "boolean", default: false },
    modes: { type: "string", default: BANDWIDTH_MODES },
    mix: { type: "string", default: "market" },
    "bandwidth-connections": { type: "string" },
    repeat: { type: "string" },
    "ingest-rates": { type: "string" },
    "ingest-variants": { type: "string" },
    "ingest-storage": { type: "string" },
    "ingest-connections": { type: "string" },
    "ingest-cpu-prof": { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});

const log = (s: string) => process.stderr.write(s + "\n");

function list(raw: string | undefined, fallback: number[], what: string): number[] {
  if (raw === undefined) return fallback;
  const out = raw.split(",").map(Number);
  if (out.some((x) => !(x > 0))) throw new Error(`--${what} takes positive numbers separated by commas, got ${raw}`);
  return out;
}
function one(raw: string | undefined, fallback: number, what: string): number {
  if (raw === undefined) return fallback;
  const x = Number(raw);
  if (!(x > 0)) throw new Error(`--${what} takes a positive number, got ${raw}`);
  return x;
}

function parseMix(raw: string): "market" | "every-field" {
  if (raw !== "market" && raw !== "every-field") throw new Error(`--mix takes market or every-field, got ${raw}`);
  return raw;
}

/** What the machine needs; exact install commands when something is missing. */
function preflight(servers: ServerKind[]): ServerKind[] {
  try {
    findNatsServerBinary();
  } catch {
    throw new Error("nats-server is not installed. Install it with\n  Debian/Ubuntu: sudo apt-get install -y nats-server\n  macOS:         brew install nats-server");
  }
  if (servers.includes("nchan") && findNginxWithNchan() === undefined) {
    log(NCHAN_INSTALL);
    servers = servers.filter((s) => s !== "nchan");
  }
  const limit = openFileLimit();
  if (limit < PER_PROCESS + 500) log(`bench: ulimit -n is ${limit}; each load-generator process holds up to ${PER_PROCESS} sockets: raise it (ulimit -n 20000)`);
  return servers;
}

async function main(): Promise<number> {
  const quick = values.quick!;
  const chosen = (positionals.length === 0 ? DEFAULT_SCENARIOS : positionals) as Scenario[];
  for (const s of chosen) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}; choose from ${SCENARIOS.join(", ")}`);
  const serversRaw = (values.servers?.split(",") ?? ["ceiling", "quotecast", "nchan", "naive"]) as ServerKind[];
  for (const s of serversRaw) if (!SERVER_KINDS.includes(s)) throw new Error(`unknown server ${s}; choose from ${SERVER_KINDS.join(", ")}`);
  const servers = preflight(serversRaw);
  const connections = list(values.connections, quick ? [300, 1500] : [1000, 5000, 10_000, 18_000], "connections");
  // The server under test holds every connection in one process: keep under its ulimit -n.
  const fdRoom = openFileLimit() - 1000;
  for (const c of connections) if (c > fdRoom) throw new Error(`${c} connections need ulimit -n above ${c + 1000} (it is ${fdRoom + 1000})`);
  const o: SuiteOptions = {
    servers,
    connections,
    rates: list(values.rates, quick ? [2000] : [2000, 5000], "rates"),
    peerMaxConnections: one(values["peer-max"], quick ? 1500 : 5000, "peer-max"),
    measureSec: one(values.measure, quick ? 4 : 10, "measure"),
    warmupSec: quick ? 1 : 3,
    soakSec: one(values["soak-seconds"], quick ? 10 : 40, "soak-seconds"),
    idleConnections: quick ? 1000 : 10_000,
    idleSettleSec: quick ? 5 : 30,
    eventConnections: quick ? 500 : 5000,
    capacityRate: one(values["capacity-rate"], 2000, "capacity-rate"),
    capacityFlushMs: one(values["capacity-flush"], 50, "capacity-flush"),
    capacitySteps: quick ? [500, 1000, 2000] : CAPACITY_STEPS,
    workers2: values.workers2!,
    modes: parseModes(values.modes!),
    mix: parseMix(values.mix!),
    bandwidthConnections: one(values["bandwidth-connections"], quick ? 1000 : 5000, "bandwidth-connections"),
    bandwidthRepeat: Math.round(one(values.repeat, quick ? 1 : 3, "repeat")),
    ingest: {
      ...(values["ingest-rates"] === undefined ? {} : { rates: list(values["ingest-rates"], [], "ingest-rates") }),
      ...(values["ingest-variants"] === undefined ? {} : { variants: values["ingest-variants"].split(",") }),
      ...(values["ingest-connections"] === undefined ? {} : { connections: Number(values["ingest-connections"]) }),
      ...(values["ingest-storage"] === undefined ? {} : { storage: values["ingest-storage"] === "file" ? "file" : "memory" }),
      ...(values["ingest-cpu-prof"] === undefined ? {} : { cpuProfDir: values["ingest-cpu-prof"] }),
      ...(values.measure === undefined ? {} : { measureSec: one(values.measure, 30, "measure") }),
      ...(quick ? { rates: [10_000, 50_000], measureSec: 10 } : {}),
    },
  };
  const m = machine(findNatsServerBinary());
  const invocation = `${m.date}-${randomUUID().slice(0, 8)}`;
  const command = ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
  log(`bench: ${m.date}, nproc ${m.nproc}, ${m.cpu}, node ${m.node}, quotecast ${m.commit}, load ${m.loadAtStart.toFixed(2)}`);
  log(`bench: servers ${servers.join(", ")}; load generator ${PER_PROCESS} connections per process from ${SOURCE_ADDRESSES} source addresses; client and servers share the same ${m.nproc} cores`);
  const t0 = Date.now();
  const local: Parameters<typeof judge>[0] = [];
  for (const s of chosen) {
    log(`${s}:`);
    await runScenario(s, o, (spec, figures) => {
      const { scenario, server, ...params } = spec;
      const line = { invocation, command, machine: m, date: new Date().toISOString(), commit: m.commit, scenario, server, params, figures };
      local.push(line);
      if (!values["no-write"]) appendRun(line);
    }, log);
  }
  // Capacity lines of an earlier invocation count when this one did not run capacity.
  const verdicts = judge(values["no-write"] ? local : invocationRuns(invocation));
  log("\ntargets:");
  for (const v of verdicts) log(`  ${v.met === null ? "not measured" : v.met ? "MET    " : "NOT MET"}  ${v.target}: ${v.figures}`);
  if (!values["no-write"]) {
    writeSummary(invocation, verdicts, [`\`${command}\` took ${Math.round((Date.now() - t0) / 60000)} min.`]);
    log(`bench: appended ${local.length} lines to bench/results/runs.jsonl; wrote bench/RESULTS.md and bench/results/p99-vs-connections.svg (${readRuns().length} lines in all)`);
  }
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
