#!/usr/bin/env node
// `npm start`: the whole local stack in one command (see CONTRACT.md).
//
//   NATS:  NATS_URL if set; else a NATS server already on 127.0.0.1:4222;
//          else a nats-server started here (installed with apt-get when
//          missing and we are root on Debian/Ubuntu; else: how to install it).
//   then:  `quotecast feed` and `quotecast serve` against it, until Ctrl-C.
//
// Environment: NATS_URL, QUOTECAST_PORT (default 8080), QUOTECAST_HOST, and
// every other QUOTECAST_* variable, which the children read themselves.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findExecutable, findNatsServer, natsServerArgs } from "./lib/nats-binary.mjs";
import { alive, freePort, signalGroup } from "./lib/processes.mjs";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(ROOT, "dist", "cli.js");
const DEFAULT_NATS_PORT = 4222;
const NATS_START_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 30_000;
// A Ctrl-C under `npm start` arrives twice: from the terminal and forwarded
// by npm. Only a signal this long after the first one means "force".
const FORCE_SIGNAL_AFTER_MS = 1_000;

const say = (msg) => process.stderr.write(`quotecast start: ${msg}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @type {{ name: string, proc: import("node:child_process").ChildProcess, exited: Promise<void> }[]} */
const children = [];
let stopping = false;
let firstSignalAt = 0;

// ---------------------------------------------------------------- preflight

if (!existsSync(CLI)) {
  say(`${CLI} is missing. Build first: npm run build   (npm start runs it for you)`);
  process.exit(1);
}

const port = parsePort(process.env.QUOTECAST_PORT ?? "8080");
const bindHost = process.env.QUOTECAST_HOST || "0.0.0.0";
// Probe a wildcard bind through loopback; a specific address, directly.
const probeHost = ["0.0.0.0", "::", "[::]"].includes(bindHost) ? "127.0.0.1" : bindHost;

function parsePort(text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    say(`QUOTECAST_PORT must be a port number (1-65535), got ${JSON.stringify(text)}`);
    process.exit(1);
  }
  return n;
}

// ---------------------------------------------------------------- helpers

// findExecutable and findNatsServer come from the process kit (scripts/lib/nats-binary.mjs).

/** True when something on host:port speaks NATS (servers greet with `INFO {...}`). */
function speaksNats(host, port, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let greeting = "";
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      greeting += chunk;
      if (greeting.length >= 5) done(greeting.startsWith("INFO "));
    });
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

/** True when host:port can be bound right now. */
function canListen(host, port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function isDebianLike() {
  if (existsSync("/etc/debian_version")) return true;
  try {
    const osRelease = readFileSync("/etc/os-release", "utf8");
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(osRelease);
  } catch {
    return false;
  }
}

function printInstallHelp() {
  say(
    [
      "nats-server is not installed, no NATS server answers on 127.0.0.1:4222, and NATS_URL is not set.",
      "Install nats-server, then run `npm start` again:",
      "  Debian/Ubuntu:  sudo apt-get install nats-server",
      "  macOS:          brew install nats-server",
      "  other:          download a release from https://github.com/nats-io/nats-server/releases",
      "Or point quotecast at an existing NATS server:  NATS_URL=nats://host:4222 npm start",
    ].join("\n"),
  );
}

/** Install nats-server with apt-get where we may; otherwise explain how and exit. */
function installNatsServer() {
  const aptGet = findExecutable("apt-get");
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!(aptGet && isRoot && isDebianLike())) {
    printInstallHelp();
    process.exit(1);
  }
  say("nats-server is not installed; installing it: apt-get update && apt-get install -y nats-server");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "nats-server"]]) {
    const result = spawnSync(aptGet, args, { stdio: "inherit", env, timeout: 10 * 60_000 });
    if (result.status !== 0) {
      say(`\`apt-get ${args.join(" ")}\` failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}).`);
      printInstallHelp();
      process.exit(1);
    }
  }
  const binary = findNatsServer();
  if (!binary) {
    say("apt-get installed nats-server but the binary was not found in PATH nor /usr/sbin.");
    printInstallHelp();
    process.exit(1);
  }
  return binary;
}

/**
 * Spawn a child in its own process group, so that a Ctrl-C in the terminal
 * reaches only us and each child gets exactly one signal, from us: `serve`
 * treats a second signal as "force exit, skip the drain".
 */
function startChild(name, command, args, options) {
  const proc = spawn(command, args, { ...options, detached: true });
  const entry = { name, proc, exited: undefined };
  entry.exited = new Promise((resolve) => {
    proc.once("exit", (code, signal) => {
      resolve();
      if (!stopping) {
        say(`${name} exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}); stopping the rest.`);
        void shutdown(1);
      }
    });
    proc.once("error", (err) => {
      resolve();
      if (!stopping) {
        say(`${name} could not be started: ${err.message}`);
        void shutdown(1);
      }
    });
  });
  children.push(entry);
  return entry;
}


/** SIGTERM (to the process itself), then SIGKILL to its group after timeoutMs. */
async function stopChild(entry, timeoutMs) {
  if (!alive(entry)) return;
  entry.proc.kill("SIGTERM");
  let timer;
  const timedOut = await Promise.race([
    entry.exited.then(() => false),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    say(`${entry.name} did not stop within ${timeoutMs} ms; killing it.`);
    signalGroup(entry, "SIGKILL");
    await Promise.race([entry.exited, sleep(5_000)]);
  }
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  const drainMs = Number(process.env.QUOTECAST_DRAIN_MS) || 10_000;
  const apps = children.filter((c) => c.name !== "nats-server");
  // The apps first, while NATS is still there for them to drain against.
  await Promise.all(apps.map((c) => stopChild(c, drainMs + 10_000)));
  const nats = children.find((c) => c.name === "nats-server");
  if (nats) await stopChild(nats, 10_000);
  if (code === 0) say("stopped.");
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    const now = Date.now();
    if (!firstSignalAt) {
      firstSignalAt = now;
      say(`${signal} received; stopping (send it again to force).`);
      void shutdown(0);
    } else if (now - firstSignalAt > FORCE_SIGNAL_AFTER_MS) {
      say(`${signal} received again; killing everything.`);
      for (const c of children) signalGroup(c, "SIGKILL");
      process.exit(1);
    }
  });
}

// Whatever happens to us (an exception included), leave nothing running.
process.on("exit", () => {
  for (const c of children) signalGroup(c, "SIGKILL");
});

// ---------------------------------------------------------------- NATS

async function startNatsServer(binary) {
  let natsPort = DEFAULT_NATS_PORT;
  if (!(await canListen("127.0.0.1", natsPort))) {
    natsPort = await freePort();
    say(`127.0.0.1:${DEFAULT_NATS_PORT} is taken by something that is not NATS; using port ${natsPort}.`);
  }
  // Under the OS temp dir, one store per port: the last quotes survive a
  // restart of `npm start`, and nothing is written into the repository.
  const storeDir = join(tmpdir(), "quotecast-nats", String(natsPort));
  mkdirSync(storeDir, { recursive: true });
  const args = natsServerArgs({ port: natsPort, storeDir, name: `quotecast-local-${natsPort}` });
  say(`starting ${binary} ${args.join(" ")}`);
  // Its log goes to our stderr as it comes; if it exits during start-up, its
  // own complaint is the last thing printed before ours (from startChild).
  const entry = startChild("nats-server", binary, args, { stdio: ["ignore", "inherit", "inherit"] });
  const deadline = Date.now() + NATS_START_TIMEOUT_MS;
  while (Date.now() < deadline && alive(entry)) {
    if (await speaksNats("127.0.0.1", natsPort)) return `nats://127.0.0.1:${natsPort}`;
    await sleep(100);
  }
  if (alive(entry)) {
    say(`nats-server did not accept connections on 127.0.0.1:${natsPort} within ${NATS_START_TIMEOUT_MS / 1000} s.`);
    await shutdown(1);
  }
  return undefined; // shutdown is under way
}

async function resolveNats() {
  if (process.env.NATS_URL) {
    say(`using NATS at ${process.env.NATS_URL} (from NATS_URL)`);
    return process.env.NATS_URL;
  }
  if (await speaksNats("127.0.0.1", DEFAULT_NATS_PORT)) {
    say(`using the NATS server already running on 127.0.0.1:${DEFAULT_NATS_PORT}`);
    return `nats://127.0.0.1:${DEFAULT_NATS_PORT}`;
  }
  const binary = findNatsServer() ?? installNatsServer();
  return startNatsServer(binary);
}

// ---------------------------------------------------------------- readiness

function readyz() {
  return new Promise((resolve) => {
    const req = httpGet({ host: probeHost, port, path: "/readyz", timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(false));
  });
}

function printBanner(natsUrl) {
  const base = `http://localhost:${port}`;
  process.stdout.write(
    [
      "",
      "  quotecast is running",
      `    board:   ${base}/`,
      `    stream:  curl -N '${base}/quotes?symbols=AAPL,MSFT'`,
      `    nats:    ${natsUrl}`,
      "  Press Ctrl-C to stop.",
      "",
      "",
    ].join("\n"),
  );
}

// ---------------------------------------------------------------- main

async function main() {
  if (!(await canListen(bindHost.replace(/^\[|\]$/g, ""), port))) {
    say(`port ${port} on ${bindHost} is already in use. Stop what uses it, or choose another: QUOTECAST_PORT=8081 npm start`);
    process.exit(1);
  }

  const natsUrl = await resolveNats();
  if (stopping || !natsUrl) return;

  const env = { ...process.env, NATS_URL: natsUrl, QUOTECAST_PORT: String(port) };
  const node = process.execPath;
  startChild("quotecast feed", node, [CLI, "feed", "--nats", natsUrl], { stdio: "inherit", env, cwd: ROOT });
  startChild("quotecast serve", node, [CLI, "serve", "--nats", natsUrl], { stdio: "inherit", env, cwd: ROOT });

  const started = Date.now();
  let warned = false;
  while (!stopping) {
    if (await readyz()) {
      printBanner(natsUrl);
      return;
    }
    if (!warned && Date.now() - started > READY_TIMEOUT_MS) {
      warned = true;
      say(
        `the server is not ready after ${READY_TIMEOUT_MS / 1000} s: http://${probeHost}:${port}/readyz does not answer 200. ` +
          `Is NATS reachable at ${natsUrl}? See the logs above. Still waiting; Ctrl-C to stop.`,
      );
    }
    await sleep(300);
  }
}

main().catch((err) => {
  say(`failed: ${err?.stack ?? err}`);
  void shutdown(1);
});
