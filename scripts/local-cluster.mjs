#!/usr/bin/env node
// scripts/local-cluster: quotecast's multi-node topology on one machine, with one command.
//
//   three nats-server processes clustered over routes, JetStream on each (the QUOTES stream is
//   created with 3 replicas), two `quotecast serve` nodes on different ports, each listing every
//   NATS node with its own first, and the feed simulator. The topology is deploy/topology.json,
//   which deploy/docker-compose.yml follows too (a test checks that they agree).
//
// Usage:
//   scripts/local-cluster [up] [--json]   start everything, print where it is, run until Ctrl-C
//                                         (--json: also one JSON line with the topology on stdout)
//   scripts/local-cluster status          what a running `up` started, and whether each part answers
//   scripts/local-cluster stop            stop a running `up` (from another terminal)
//   scripts/local-cluster topology [--json]  the ports and connections `up` would use
//
// Environment:
//   LOCAL_CLUSTER_PORT_OFFSET   added to every port of deploy/topology.json (default 0)
//   LOCAL_CLUSTER_FREE_PORTS=1  pick free ports instead (tests do; read them from --json or status)
//   LOCAL_CLUSTER_HOST          bind address of the quotecast nodes (default 127.0.0.1)
//   LOCAL_CLUSTER_FEED_RATE     quotes per second from the feed (default 200)
//   LOCAL_CLUSTER_SYMBOLS       symbols the feed publishes (default 50)
//   LOCAL_CLUSTER_READY_MS      how long `up` waits for every node's /readyz (default 60000)
//   LOCAL_CLUSTER_STATE         state file of a running `up` (default $TMPDIR/quotecast-local-cluster.json)
//   QUOTECAST_WORKERS, QUOTECAST_DRAIN_MS and every other QUOTECAST_* variable reach the nodes
//   (defaults here: 1 worker and a 3 s drain per node, so that a laptop runs it all comfortably).
//
// Needs `npm run build` first (`npm run local-cluster` builds and runs it) and nats-server.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findNatsServer, NATS_INSTALL_HINT, natsServerArgs } from "./lib/nats-binary.mjs";
import { alive, freePort, signalGroup } from "./lib/processes.mjs";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(ROOT, "dist", "cli.js");
const TOPOLOGY = JSON.parse(readFileSync(join(ROOT, "deploy", "topology.json"), "utf8"));
const STATE = process.env.LOCAL_CLUSTER_STATE || join(tmpdir(), "quotecast-local-cluster.json");
const READY_TIMEOUT_MS = Number(process.env.LOCAL_CLUSTER_READY_MS) || 60_000;
const STOP_TIMEOUT_MS = 15_000;

const say = (msg) => process.stderr.write(`local-cluster: ${msg}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- topology

/** deploy/topology.json with the ports this run uses and the URLs each part connects to. */
async function resolveTopology() {
  const free = process.env.LOCAL_CLUSTER_FREE_PORTS === "1";
  const offset = Number(process.env.LOCAL_CLUSTER_PORT_OFFSET ?? "0");
  if (!Number.isInteger(offset) || offset < -4000 || offset > 50_000) {
    say(`LOCAL_CLUSTER_PORT_OFFSET must be an integer between -4000 and 50000, got ${JSON.stringify(process.env.LOCAL_CLUSTER_PORT_OFFSET)}`);
    process.exit(2);
  }
  const taken = new Set();
  const port = async (p) => {
    if (!free) return p + offset;
    for (;;) {
      const q = await freePort();
      // Never the shared development server's port, never the same port twice.
      if (q !== 4222 && !taken.has(q)) {
        taken.add(q);
        return q;
      }
    }
  };
  const host = process.env.LOCAL_CLUSTER_HOST || "127.0.0.1";
  const nats = [];
  for (const n of TOPOLOGY.nats) {
    nats.push({ name: n.name, clientPort: await port(n.clientPort), routePort: await port(n.routePort), monitorPort: await port(n.monitorPort) });
  }
  const natsUrl = (name) => {
    const n = nats.find((x) => x.name === name);
    if (!n) throw new Error(`deploy/topology.json: no NATS node named ${name}`);
    return `nats://127.0.0.1:${n.clientPort}`;
  };
  const quotecast = [];
  for (const q of TOPOLOGY.quotecast) {
    const p = await port(q.port);
    quotecast.push({ name: q.name, port: p, metricsPort: await port(q.metricsPort), nats: q.nats.map(natsUrl), url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${p}`, host });
  }
  const feed = { name: TOPOLOGY.feed.name, nats: TOPOLOGY.feed.nats.map(natsUrl) };
  return { clusterName: TOPOLOGY.natsClusterName, nats, quotecast, feed };
}

function describe(topo) {
  const lines = [];
  for (const n of topo.nats) {
    lines.push(`  ${n.name.padEnd(12)} nats://127.0.0.1:${n.clientPort}   routes :${n.routePort}   monitoring http://127.0.0.1:${n.monitorPort}/varz`);
  }
  for (const q of topo.quotecast) {
    lines.push(`  ${q.name.padEnd(12)} ${q.url}/   metrics http://127.0.0.1:${q.metricsPort}/metrics   NATS ${q.nats.join(",")}`);
  }
  lines.push(`  ${topo.feed.name.padEnd(12)} NATS ${topo.feed.nats.join(",")}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------- processes

function requireNatsServer() {
  const binary = findNatsServer();
  if (binary !== undefined) return binary;
  say(`nats-server is not installed (not on PATH nor in /usr/sbin). ${NATS_INSTALL_HINT}`);
  process.exit(1);
}

const children = [];
let stopping = false;
let ready = false;

/** Each child in its own process group with its log in a file: a Ctrl-C reaches only us. */
function startChild(name, command, args, runDir, env = process.env) {
  const logFile = join(runDir, `${name}.log`);
  const fd = openSync(logFile, "a");
  const proc = spawn(command, args, { detached: true, stdio: ["ignore", fd, fd], env });
  const entry = { name, proc, logFile, exited: null };
  entry.exited = new Promise((resolve) => {
    proc.once("exit", (code, signal) => {
      resolve();
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (!ready) {
        say(`${name} exited before the cluster was ready (${how}); its log, ${logFile}:\n${tail(logFile)}`);
        void shutdown(1, runDir);
      } else {
        // After start-up a part may be killed on purpose, to watch the others fail over.
        say(`${name} exited (${how}); the rest keeps running. Log: ${logFile}`);
      }
    });
    proc.once("error", (err) => {
      resolve();
      if (!stopping) {
        say(`${name} could not be started: ${err.message}`);
        void shutdown(1, runDir);
      }
    });
  });
  children.push(entry);
  return entry;
}

function tail(file, bytes = 3000) {
  try {
    const text = readFileSync(file, "utf8");
    return text.slice(-bytes);
  } catch {
    return "(no log)";
  }
}


async function stopAll(entries, timeoutMs) {
  for (const e of entries) signalGroup(e, "SIGTERM");
  const timer = sleep(timeoutMs).then(() => "timeout");
  if ((await Promise.race([Promise.all(entries.map((e) => e.exited)), timer])) === "timeout") {
    for (const e of entries) {
      if (alive(e)) say(`${e.name} did not stop within ${timeoutMs} ms; killing it`);
      signalGroup(e, "SIGKILL");
    }
    await Promise.all(entries.map((e) => e.exited));
  }
}

let shuttingDown = null;
function shutdown(code, runDir) {
  shuttingDown ??= (async () => {
    stopping = true;
    say("stopping: quotecast nodes (drain), feed, then NATS");
    const byKind = (kind) => children.filter((c) => c.name.startsWith(kind));
    await stopAll(byKind("quotecast"), STOP_TIMEOUT_MS + drainMs());
    await stopAll(byKind("feed"), STOP_TIMEOUT_MS);
    await stopAll(byKind("nats"), STOP_TIMEOUT_MS);
    try {
      const state = JSON.parse(readFileSync(STATE, "utf8"));
      if (state.pid === process.pid) unlinkSync(STATE);
    } catch {
      /* not ours, or gone */
    }
    if (code === 0) rmSync(runDir, { recursive: true, force: true });
    else say(`logs and JetStream stores kept in ${runDir}`);
    say("stopped");
    process.exit(code);
  })();
  return shuttingDown;
}

function drainMs() {
  return Number(process.env.QUOTECAST_DRAIN_MS ?? "3000") || 3000;
}

async function httpStatus(url, timeoutMs = 1000) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- commands

async function up(json) {
  if (!existsSync(CLI)) {
    say(`${CLI} is missing. Build first: npm run build   (npm run local-cluster does both)`);
    process.exit(1);
  }
  const natsServer = requireNatsServer();
  const running = readState();
  if (running && isAlive(running.pid)) {
    say(`already running (pid ${running.pid}); see \`scripts/local-cluster status\`, or stop it with \`scripts/local-cluster stop\``);
    process.exit(1);
  }
  const topo = await resolveTopology();
  const runDir = mkdtempSync(join(tmpdir(), "quotecast-local-cluster-"));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => void shutdown(0, runDir));

  const routes = topo.nats.map((n) => `nats://127.0.0.1:${n.routePort}`);
  for (const [i, n] of topo.nats.entries()) {
    startChild(n.name, natsServer, natsServerArgs({
      port: n.clientPort, monitorPort: n.monitorPort, name: n.name, storeDir: join(runDir, n.name),
      cluster: { name: topo.clusterName, listen: routes[i], routes: routes.filter((_, j) => j !== i) },
    }), runDir);
  }
  // The nodes retry NATS until it answers and create the stream (R3) once JetStream has a leader.
  const env = { ...process.env, QUOTECAST_WORKERS: process.env.QUOTECAST_WORKERS ?? "1", QUOTECAST_DRAIN_MS: String(drainMs()) };
  for (const q of topo.quotecast) {
    startChild(q.name, process.execPath, [CLI, "serve", "--host", q.host, "--port", String(q.port), "--metrics-port", String(q.metricsPort), "--nats", q.nats.join(",")], runDir, env);
  }
  startChild(topo.feed.name, process.execPath, [
    CLI, "feed", "--nats", topo.feed.nats.join(","),
    "--rate", process.env.LOCAL_CLUSTER_FEED_RATE ?? "200", "--symbols", process.env.LOCAL_CLUSTER_SYMBOLS ?? "50",
  ], runDir);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (stopping) return;
    const statuses = await Promise.all(topo.quotecast.map((q) => httpStatus(`${q.url}/readyz`)));
    if (statuses.every((s) => s === 200)) break;
    if (Date.now() > deadline) {
      say(`not ready within ${READY_TIMEOUT_MS} ms (readyz: ${statuses.join(", ")}); logs in ${runDir}`);
      // The logs go with the run directory at shutdown: show the ends of the quotecast nodes' ones.
      for (const q of topo.quotecast) say(`${q.name}'s log ends:\n${tail(join(runDir, `${q.name}.log`), 1500)}`);
      await shutdown(1, runDir);
      return;
    }
    await sleep(250);
  }
  ready = true;
  const pids = Object.fromEntries(children.map((c) => [c.name, c.proc.pid]));
  const state = { pid: process.pid, runDir, topology: topo, pids };
  writeFileSync(STATE, JSON.stringify(state, null, 2));
  say(`ready. Everything runs until Ctrl-C (or \`scripts/local-cluster stop\`).\n${describe(topo)}\n  logs         ${runDir}/<name>.log\n  try          curl -N '${topo.quotecast[0].url}/quotes?symbols=AAPL,MSFT'   or open ${topo.quotecast[1].url}/`);
  if (json) process.stdout.write(`${JSON.stringify(state)}\n`);
  // Keep running until a signal.
  setInterval(() => undefined, 1 << 30);
}

function readState() {
  try {
    return JSON.parse(readFileSync(STATE, "utf8"));
  } catch {
    return null;
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function status() {
  const state = readState();
  if (!state || !isAlive(state.pid)) {
    say("not running (start it with `scripts/local-cluster`)");
    process.exit(3);
  }
  const lines = [`running (pid ${state.pid}), logs in ${state.runDir}`];
  for (const n of state.topology.nats) {
    let what = "down";
    try {
      const varz = await (await fetch(`http://127.0.0.1:${n.monitorPort}/varz`, { signal: AbortSignal.timeout(1000) })).json();
      what = `up, ${varz.connections} client connections, routes ${varz.cluster?.urls?.length ?? 0}`;
    } catch {
      /* down */
    }
    lines.push(`  ${n.name.padEnd(12)} ${what}   pid ${state.pids[n.name]}`);
  }
  for (const q of state.topology.quotecast) {
    const ready = await httpStatus(`${q.url}/readyz`);
    lines.push(`  ${q.name.padEnd(12)} ${ready === 200 ? "ready" : ready === 0 ? "down" : `not ready (${ready})`}   ${q.url}/   pid ${state.pids[q.name]} (primary)`);
  }
  lines.push(`  ${state.topology.feed.name.padEnd(12)} ${isAlive(state.pids[state.topology.feed.name]) ? "running" : "stopped"}   pid ${state.pids[state.topology.feed.name]}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function stop() {
  const state = readState();
  if (!state || !isAlive(state.pid)) {
    say("not running");
    return;
  }
  process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + STOP_TIMEOUT_MS * 3 + drainMs();
  while (isAlive(state.pid) && Date.now() < deadline) await sleep(200);
  say(isAlive(state.pid) ? `pid ${state.pid} is still running` : "stopped");
}

const [command = "up", ...rest] = process.argv.slice(2);
const json = rest.includes("--json") || (command === "--json" && rest.length === 0);
switch (command) {
  case "up":
  case "--json":
    await up(json);
    break;
  case "status":
    await status();
    break;
  case "stop":
    await stop();
    break;
  case "topology": {
    const topo = await resolveTopology();
    process.stdout.write(json ? `${JSON.stringify(topo)}\n` : `${describe(topo)}\n`);
    break;
  }
  default:
    say(`unknown command ${JSON.stringify(command)}; use: up [--json] | status | stop | topology [--json]`);
    process.exit(2);
}
