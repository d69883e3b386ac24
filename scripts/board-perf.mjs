#!/usr/bin/env node
// How the board behaves under load: N symbols on one page while the feed publishes R quotes/s.
// Starts its own nats-server (free port, temporary store), `quotecast serve`, `quotecast feed`
// and headless Chromium, opens /?symbols=<the feed's N symbols>, and measures over a window:
//   - frames rendered per second (requestAnimationFrame counting) and the longest frame gap;
//   - main-thread busy time from CDP Performance.getMetrics (TaskDuration, ScriptDuration,
//     LayoutDuration, RecalcStyleDuration deltas), as a share of wall time;
//   - quotes the board received per second and its median end-to-end latency.
// The baseline is the same page with the feed stopped (an idle board), measured first.
//
//   npm run build && node scripts/board-perf.mjs [--rate 5000] [--symbols 200] [--seconds 10] [--workers 1] [--height 900]

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findNatsServer, NATS_INSTALL_HINT, natsServerArgs } from "./lib/nats-binary.mjs";
import { canConnect, freePorts, waitFor, waitHttpOk } from "./lib/processes.mjs";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist", "cli.js");
const { generateUniverse } = await import(join(ROOT, "dist", "simulator", "universe.js"));

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "5000" },
    symbols: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    workers: { type: "string", default: "1" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    // 900 shows ~25 rows; 6500 shows all 200 (the worst case: every row on screen).
    height: { type: "string", default: "900" },
  },
});
const rate = Number(values.rate);
const count = Number(values.symbols);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);

const children = [];
const tmp = mkdtempSync(join(tmpdir(), "qc-board-perf-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(name, cmd, args) {
  const proc = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
  const child = { name, proc, err: () => err, exited: new Promise((r) => proc.on("exit", r)) };
  children.push(child);
  return child;
}

async function stopAll() {
  for (const c of children.reverse()) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGTERM");
    await Promise.race([c.exited, sleep(5000)]);
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  }
  rmSync(tmp, { recursive: true, force: true });
}

const waitHttp = waitHttpOk;

/** One measurement window on an open page. */
async function measure(page, cdp, ms) {
  await page.evaluate(() => {
    const w = window;
    w.__perf = { frames: 0, last: 0, maxGap: 0, longFrames: 0 };
    if (w.__perfLoop) return;
    w.__perfLoop = true;
    const tick = (t) => {
      const p = w.__perf;
      if (p.last > 0) {
        const gap = t - p.last;
        if (gap > p.maxGap) p.maxGap = gap;
        if (gap > 50) p.longFrames++;
      }
      p.last = t;
      p.frames++;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const m0 = metrics(await cdp.send("Performance.getMetrics"));
  const t0 = Date.now();
  await sleep(ms);
  const m1 = metrics(await cdp.send("Performance.getMetrics"));
  const wall = (Date.now() - t0) / 1000;
  const perf = await page.evaluate(() => window.__perf);
  const board = await page.evaluate(() => ({ rate: document.getElementById("rate")?.textContent, latency: document.getElementById("latency")?.textContent, status: document.getElementById("status-text")?.textContent }));
  const share = (k) => ((m1[k] - m0[k]) / wall) * 100;
  return {
    fps: perf.frames / wall,
    maxFrameGapMs: perf.maxGap,
    framesOver50ms: perf.longFrames,
    mainThreadBusyPct: share("TaskDuration"),
    scriptPct: share("ScriptDuration"),
    layoutPct: share("LayoutDuration"),
    styleRecalcPct: share("RecalcStyleDuration"),
    heapMB: m1.JSHeapUsedSize / 2 ** 20,
    boardRate: board.rate,
    boardLatency: board.latency,
    status: board.status,
  };
}

function metrics(res) {
  return Object.fromEntries(res.metrics.map((m) => [m.name, m.value]));
}

const fmt = (v, d = 1) => (typeof v === "number" ? v.toFixed(d) : String(v));

let browser;
process.on("SIGINT", async () => {
  await browser?.close().catch(() => undefined);
  await stopAll();
  process.exit(130);
});

try {
  // Drawn together, so they differ (two draws in a row can return the same port).
  const [natsPort, httpPort] = await freePorts(2);
  const natsServer = findNatsServer();
  if (natsServer === undefined) throw new Error(`nats-server not found.\n${NATS_INSTALL_HINT}`);
  const nats = `nats://127.0.0.1:${natsPort}`;
  start("nats-server", natsServer, natsServerArgs({ port: natsPort, storeDir: join(tmp, "js"), name: `board-perf-${process.pid}` }));
  await waitFor(() => canConnect(natsPort, 1000), 10_000, "nats-server");
  start("serve", process.execPath, [CLI, "serve", "--port", String(httpPort), "--host", "127.0.0.1", "--metrics-port", "0", "--workers", values.workers, "--nats", nats]);
  await waitHttp(`http://127.0.0.1:${httpPort}/readyz`, 20_000);
  const symbols = generateUniverse(count);
  // A short burst first so that every symbol has a last value, then the feed stops: the idle baseline.
  const seed = start("feed (seed)", process.execPath, [CLI, "feed", "--nats", nats, "--rate", String(Math.max(count * 5, 1000)), "--symbols", String(count), "--duration", "2"]);
  await seed.exited;

  browser = await chromium.launch({
    executablePath: values.chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: Number(values.height) } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable", { timeDomain: "threadTicks" });
  await page.goto(`http://127.0.0.1:${httpPort}/?symbols=${symbols.join(",")}`);
  await page.waitForFunction(() => document.getElementById("status-text")?.textContent === "live", undefined, { timeout: 15_000 });
  await sleep(warmup * 1000);
  const idle = await measure(page, cdp, seconds * 1000);

  start("feed", process.execPath, [CLI, "feed", "--nats", nats, "--rate", String(rate), "--symbols", String(count)]);
  await sleep(warmup * 1000);
  const loaded = await measure(page, cdp, seconds * 1000);

  const rows = [
    ["", "idle board (baseline)", `${rate} quotes/s`],
    ["frames rendered /s (rAF)", fmt(idle.fps), fmt(loaded.fps)],
    ["longest frame gap (ms)", fmt(idle.maxFrameGapMs, 0), fmt(loaded.maxFrameGapMs, 0)],
    ["frames over 50 ms", idle.framesOver50ms, loaded.framesOver50ms],
    ["main thread busy (% of wall, TaskDuration)", fmt(idle.mainThreadBusyPct), fmt(loaded.mainThreadBusyPct)],
    ["  script (ScriptDuration)", fmt(idle.scriptPct), fmt(loaded.scriptPct)],
    ["  layout + style recalc", fmt(idle.layoutPct + idle.styleRecalcPct), fmt(loaded.layoutPct + loaded.styleRecalcPct)],
    ["JS heap used (MiB)", fmt(idle.heapMB), fmt(loaded.heapMB)],
    ["board: updates received", idle.boardRate, loaded.boardRate],
    ["board: median latency", idle.boardLatency, loaded.boardLatency],
  ];
  console.log(`board-perf: ${count} symbols, feed ${rate} quotes/s, ${seconds} s windows, serve --workers ${values.workers}, flush 50 ms, viewport 1280×${values.height}`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}, ${new Date().toISOString()}`);
  for (const r of rows) console.log(`| ${r.map(String).join(" | ")} |`);
  if (errors.length > 0) console.log(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ rate, symbols: count, seconds, idle, loaded }));
} finally {
  await browser?.close().catch(() => undefined);
  await stopAll();
}
