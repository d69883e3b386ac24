// Results: one JSON line per run appended to bench/results/runs.jsonl, and bench/RESULTS.md
// plus bench/results/p99-vs-connections.svg regenerated from the lines of the latest
// invocation, so numbers are never quoted without the machine, date and commit behind them.

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Machine } from "./report.js";
import type { Figures, RunSpec } from "./run-one.js";

export const RESULTS_DIR = fileURLToPath(new URL("../../../../bench/results/", import.meta.url));
export const JSONL = `${RESULTS_DIR}runs.jsonl`;
export const SUMMARY = fileURLToPath(new URL("../../../../bench/RESULTS.md", import.meta.url));
export const CHART = `${RESULTS_DIR}p99-vs-connections.svg`;

export interface RunLine {
  /** One id per `npm run bench` invocation: RESULTS.md shows the latest one. */
  readonly invocation: string;
  readonly command: string;
  readonly machine: Machine;
  readonly date: string;
  readonly commit: string;
  readonly scenario: string;
  readonly server: string;
  readonly params: Omit<RunSpec, "scenario" | "server">;
  readonly figures: Figures;
}

export function appendRun(line: RunLine): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  appendFileSync(JSONL, JSON.stringify(line) + "\n");
}

export function readRuns(): RunLine[] {
  if (!existsSync(JSONL)) return [];
  return readFileSync(JSONL, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as RunLine);
}

/**
 * Runs that differ only in their round (`RunSpec.round`) merged into one line each: every numeric
 * figure the median of the rounds' (the mean of the middle two for an even count), `rounds` how
 * many, and the least and most frames/s and p99 (`framesPerSecMin`, `p99MsMax`, ...). The finals
 * are the worst round's. Runs without rounds pass through as they are.
 */
export function mergeRounds(runs: readonly RunLine[]): RunLine[] {
  const sets = new Map<string, RunLine[]>();
  for (const r of runs) {
    const { round: _round, ...params } = r.params;
    const key = JSON.stringify([r.invocation, r.scenario, r.server, params]);
    const set = sets.get(key);
    if (set === undefined) sets.set(key, [r]);
    else set.push(r);
  }
  return [...sets.values()].map((set) => {
    if (set.length === 1 && set[0]!.params.round === undefined) return set[0]!;
    const ok = set.filter((r) => r.figures.error === undefined);
    if (ok.length === 0) return set[0]!;
    const figures: Figures = { ...ok[0]!.figures, rounds: ok.length };
    for (const k of Object.keys(figures)) {
      const xs = ok.map((r) => r.figures[k]).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
      if (typeof figures[k] === "number" && xs.length > 0 && k !== "rounds") figures[k] = median(xs);
    }
    for (const k of ["framesPerSec", "p99Ms"]) {
      const xs = ok.map((r) => r.figures[k]).filter((x): x is number => typeof x === "number");
      if (xs.length > 0) {
        figures[`${k}Min`] = Math.min(...xs);
        figures[`${k}Max`] = Math.max(...xs);
      }
    }
    const worst = ok.find((r) => r.figures.finalsOk === false) ?? ok[0]!;
    for (const k of Object.keys(worst.figures)) if (k.startsWith("finals")) figures[k] = worst.figures[k]!;
    const { round: _round, ...params } = ok[0]!.params;
    return { ...ok[0]!, params, figures };
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface TargetVerdict {
  readonly target: string;
  readonly met: boolean | null;
  readonly figures: string;
}

const n = (v: unknown, digits = 0): string =>
  typeof v === "number" && Number.isFinite(v) ? v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : v === null || v === undefined ? "–" : String(v);

const fin = (f: Figures): string =>
  f.finalsOk === null || f.finalsOk === undefined
    ? "n/a"
    : f.finalsOk
      ? `✓ ${n(f.finalsCurrent)}`
      : `✗ ${n(f.finalsCurrent)}/${n(f.finalsTotal)}${typeof f.finalsClosed === "number" && f.finalsClosed > 0 ? ` (${n(f.finalsClosed)} closed by the server)` : ""}`;

/** When quotecast's young generation was back after the connection burst (idle runs). */
const young = (r: RunLine): string => (r.figures.youngReturnedSec === undefined ? "–" : r.figures.youngReturnedSec === null ? "not within 120" : n(r.figures.youngReturnedSec));

/** Frames each open connection got per second (naive's and nchan's carry one quote each). */
const perConn = (r: RunLine): string =>
  typeof r.figures.framesPerSec === "number" && typeof r.figures.open === "number" && r.figures.open > 0 ? n(r.figures.framesPerSec / r.figures.open, 1) : "–";

/** A Markdown table: the first `textColumns` columns left-aligned, the rest (figures) right-aligned. */
function table(head: string[], rows: string[][], textColumns = 2): string {
  return [`| ${head.join(" | ")} |`, `| ${head.map((_, i) => (i < textColumns ? "---" : "---:")).join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

const SERVER_ORDER = ["ceiling", "quotecast", "quotecast-w2", "nchan", "naive", "node-coalescing"];
const COLOURS: Record<string, string> = { ceiling: "#555", quotecast: "#1f77b4", "quotecast-w2": "#17becf", nchan: "#2ca02c", naive: "#d62728", "node-coalescing": "#ff7f0e" };
const label = (r: RunLine) => (r.server === "quotecast" && r.params.workers > 1 ? `quotecast-w${r.params.workers}` : r.server);

/** p99 against connections, one line per server, for the 2k/s feed at flush 50 ms (log scale). */
export function chartSvg(runs: RunLine[], rate: number, flushMs: number): string {
  const at = (scenario: string) => runs.filter((r) => r.scenario === scenario && r.params.rate === rate && r.params.flushMs === flushMs && typeof r.figures.p99Ms === "number");
  const matrix = at("matrix");
  // Capacity steps fill in the connection counts the matrix did not run.
  const pts = [...matrix, ...at("capacity").filter((c) => !matrix.some((m) => label(m) === label(c) && m.params.connections === c.params.connections))];
  const W = 720, H = 420, L = 70, R = 150, T = 40, B = 50;
  const xs = [...new Set(pts.map((r) => r.params.connections))].sort((a, b) => a - b);
  const xMax = Math.max(1000, ...xs);
  const x = (c: number) => L + ((W - L - R) * c) / xMax;
  const yMin = 1, yMax = 60_000;
  const y = (ms: number) => Math.round(10 * (T + (H - T - B) * (1 - Math.log10(Math.max(yMin, ms) / yMin) / Math.log10(yMax / yMin)))) / 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">p99 publish→receive latency vs connections (feed ${rate}/s, flush ${flushMs} ms)</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
  ];
  for (const ms of [1, 10, 100, 1000, 10_000, 60_000]) out.push(`<line x1="${L}" y1="${y(ms)}" x2="${W - R}" y2="${y(ms)}" stroke="#ddd"/><text x="${L - 6}" y="${y(ms) + 4}" text-anchor="end">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  const limit = flushMs + 100;
  out.push(`<line x1="${L}" y1="${y(limit)}" x2="${W - R}" y2="${y(limit)}" stroke="#999" stroke-dasharray="4 3"/><text x="${W - R + 4}" y="${y(limit) + 4}" fill="#999">flush+100 ms</text>`);
  for (const c of xs.filter((c, i) => i === 0 || x(c) - x(xs[i - 1]!) > 24)) out.push(`<text x="${x(c)}" y="${H - B + 16}" text-anchor="middle">${c >= 1000 ? `${c / 1000}k` : c}</text>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">connections</text>`);
  let legend = 0;
  for (const s of SERVER_ORDER) {
    const line = pts.filter((r) => label(r) === s).sort((a, b) => a.params.connections - b.params.connections);
    if (line.length === 0) continue;
    const colour = COLOURS[s] ?? "black";
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${line.map((r) => `${x(r.params.connections).toFixed(1)},${y(r.figures.p99Ms as number).toFixed(1)}`).join(" ")}"/>`);
    for (const r of line) out.push(`<circle cx="${x(r.params.connections).toFixed(1)}" cy="${y(r.figures.p99Ms as number).toFixed(1)}" r="3" fill="${colour}"/>`);
    out.push(`<rect x="${W - R + 10}" y="${T + 10 + legend * 18}" width="12" height="3" fill="${colour}"/><text x="${W - R + 28}" y="${T + 15 + legend * 18}">${s}</text>`);
    legend++;
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/**
 * What RESULTS.md shows after an invocation: each scenario it ran, from it, and every other
 * scenario from the newest invocation that ran it (each section says which one). So
 * `npm run bench -- bandwidth` replaces the bandwidth section and keeps the others' figures.
 */
export function invocationRuns(invocation: string): RunLine[] {
  return selectInvocation(readRuns(), invocation);
}

/** Scenarios with a section here (ingest writes its own report, bench/ingest.ts). */
const SHOWN = ["matrix", "alloc", "idle", "slow", "storm", "soak", "bandwidth", "capacity"];

/** The lines of `invocation`, and for each other scenario shown here those of the newest invocation that ran it (file order kept). */
export function selectInvocation(all: readonly RunLine[], invocation: string): RunLine[] {
  const from = new Map<string, string>();
  for (const r of all) if (r.invocation === invocation) from.set(r.scenario, invocation);
  for (let i = all.length - 1; i >= 0; i--) {
    const r = all[i]!;
    if (!from.has(r.scenario) && SHOWN.includes(r.scenario)) from.set(r.scenario, r.invocation);
  }
  return all.filter((r) => from.get(r.scenario) === r.invocation);
}

/** The invocation behind a section: its command, when it started, the commit and the machine's load. */
export function provenance(rs: readonly RunLine[]): string {
  const r = rs[0];
  if (r === undefined) return "";
  const loads = rs.map((x) => x.figures.load1).filter((v): v is number => typeof v === "number");
  const load = loads.length > 0 ? `; load average (1 min) at the end of each run ${n(Math.min(...loads), 2)}–${n(Math.max(...loads), 2)}` : "";
  return `From \`${r.command}\` (invocation ${r.invocation}, started ${r.machine.date}, quotecast ${r.commit}${load}).`;
}

/** Regenerate bench/RESULTS.md and the chart from the JSONL lines of one invocation. */
export function writeSummary(invocation: string, verdicts: readonly TargetVerdict[], notes: readonly string[]): void {
  const runs = invocationRuns(invocation);
  if (runs.length === 0) return;
  writeFileSync(CHART, chartSvg(runs, 2000, 50));
  const invocations = [...new Set(runs.map((r) => r.invocation))];
  const md: string[] = [
    "# Benchmark results",
    "",
    "Generated by `npm run bench` (bench/run.ts) from `bench/results/runs.jsonl` (one JSON line per run, all invocations kept): each section shows the newest invocation that ran its scenario, and says which; the targets are judged from the figures below. " +
      "Client (load generator), servers, NATS and publisher share the same 2 cores over loopback: every figure is what one server gets while the load generator takes its share.",
    "",
    ...invocations.map((inv) => {
      const rs = runs.filter((r) => r.invocation === inv);
      const m = rs[0]!.machine;
      const loads = rs.map((r) => r.figures.load1).filter((v): v is number => typeof v === "number");
      return `- ${[...new Set(rs.map((r) => r.scenario))].join(", ")}: \`${rs[0]!.command}\`, ${m.date}, quotecast ${m.commit}; nproc ${m.nproc}, ${m.cpu}, Linux ${m.kernel}; node ${m.node}; ${m.natsServer}${loads.length > 0 ? `; load average (1 min) at the end of each run ${n(Math.min(...loads), 2)}–${n(Math.max(...loads), 2)}` : ""}`;
    }),
    "- The load average counts the load generator, NATS and the publisher. quotecast runs `serve --workers 1` (one process, like the ceiling, the naive server and nchan's one nginx worker) unless marked quotecast-w2.",
    "",
    "## Targets",
    "",
    table(["target", "met", "figures"], verdicts.map((v) => [v.target, v.met === null ? "not measured" : v.met ? "met" : "**not met**", v.figures])),
    "",
    ...notes.flatMap((x) => [x, ""]),
  ];
  const matrix = runs.filter((r) => r.scenario === "matrix");
  if (matrix.length > 0) {
    md.push(
      "## Fan-out matrix",
      "",
      "Each connection subscribes to its own 20 of 200 symbols; the publisher sends quotes round-robin at the feed rate (the simulator's market mix, ~116 bytes, unless the run says `--mix every-field`: ~130 bytes with every field changing; the ceiling's frames hold ~130-byte quotes either way). frames/s and quotes/s are counted by the clients; latency is publish (`ts`) to receipt, every quote of every reading connection (age at arrival); vis p99 is the visibility lag: for every published quote and every subscriber of its symbol, the time until the subscriber held that quote or a newer one (it counts the quotes conflation replaced); finals: connections holding every subscribed symbol's last seq at the end.",
      "",
      provenance(matrix),
      "",
      "![p99 vs connections](results/p99-vs-connections.svg)",
      "",
      table(
        ["server", "conns", "feed/s", "flush ms", "open", "frames/s", "quotes/frame", "MB/s", "p50 ms", "p99 ms", "max ms", "vis p99 ms", "finals", "server CPU %", "tick ms", "server RSS MB", "loadgen CPU %", "NATS CPU %", "load1"],
        sortRuns(matrix).map((r) => [label(r), n(r.params.connections), n(r.params.rate), n(r.params.flushMs), n(r.figures.open), n(r.figures.framesPerSec), n(r.figures.quotesPerFrame, 1), n(r.figures.clientMBps, 1), n(r.figures.p50Ms), n(r.figures.p99Ms), n(r.figures.maxMs), n(r.figures.visP99Ms), fin(r.figures), n(r.figures.serverCpuPct), n(r.figures.tickMeanMs, 1), n(r.figures.serverRssMB), n(r.figures.loadgenCpuPct), n(r.figures.natsCpuPct), n(r.figures.load1, 2)]),
      ),
      "",
    );
  }
  const sections: [string, string, string[], (r: RunLine) => string[]][] = [
    ["alloc", "## Allocation in the fan-out\n\nThe real fan-out core (src/fanout) driven in process at the matrix's load, every connection with its own symbols and so a frame of its own, into sinks that read each frame and keep nothing, under V8's sampling heap profiler (every 64 bytes on average, objects already collected included): bytes allocated inside `Fanout.tick` per tick at 1,000 and at 5,000 connections, and what grows with the connections, per extra frame; what the feed allocates per quote (its UTF-8 bytes, once). The socket write itself is uWS's and not counted (`bench/alloc.ts`).", ["conns", "feed/s", "flush ms", "frames", "B / tick at 1,000 conns", "B / tick at 5,000", "B per extra frame", "where, per tick at 5,000", "B / quote (feed)", "µs / frame (core, under the profiler)"], (r) => [n(r.params.connections), n(r.params.rate), n(r.params.flushMs), n(r.figures.framesWritten), n(r.figures.allocPerTickBytesAt1000), n(r.figures.allocPerTickBytes), n(r.figures.allocPerExtraFrameBytes, 2), String(r.figures.allocTopInTick ?? ""), n(r.figures.allocPerQuoteBytes), n((r.figures.frameMs as number) * 1000, 2)]],
    ["idle", "## Idle connections: memory per connection\n\nRSS of the server (all its processes) with N idle connections minus its RSS before any, per connection, each the least RSS over a settle window (30 s): before any connection, and with every connection still open, once V8 has handed back the connection burst's young generation and garbage; the figure 3 s after the burst is beside it. For quotecast the window starts when its young generation is back to its size before the connections (the seconds after the burst are shown; V8's memory reducer takes 10 to 40 s here, and a window that ended before it counted the burst's ~25 MB as connections' memory).", ["server", "conns", "open", "RSS before MB", "RSS settled MB", "KB RSS / conn settled", "KB RSS / conn at 3 s", "KB heap / conn", "young gen back s"], (r) => [label(r), n(r.params.connections), n(r.figures.opened), n(r.figures.serverRssIdleMB, 1), n(r.figures.serverRssMB, 1), n(r.figures.rssPerConnKB, 2), n(r.figures.rssPerConnEarlyKB, 2), n(r.figures.heapPerConnKB, 2), young(r)]],
    ["slow", "## Slow clients\n\nA share of the connections stops reading once open; latency is that of the others. Dropped: connections the server closed (quotecast closes consumers congested past --slow-consumer-ms).", ["server", "conns", "slow share", "frames/s", "p99 ms", "vis p99 ms", "max ms", "dropped", "finals", "server RSS MB", "server CPU %"], (r) => [label(r), n(r.params.connections), n(r.params.slowShare, 2), n(r.figures.framesPerSec), n(r.figures.p99Ms), n(r.figures.visP99Ms), n(r.figures.maxMs), n(r.figures.dropped), fin(r.figures), n(r.figures.serverRssMB), n(r.figures.serverCpuPct)]],
    ["storm", "## Connect storm\n\nAll connections drop and reconnect at once (1,000 in flight per load-generator process), then the usual measurement window.", ["server", "conns", "back", "failed", "seconds", "p99 ms after", "vis p99 ms after", "finals"], (r) => [label(r), n(r.params.connections), n(r.figures.stormReopened), n(r.figures.stormFailed), n(r.figures.stormSec, 1), n(r.figures.p99Ms), n(r.figures.visP99Ms), fin(r.figures)]],
    ["soak", "## Soak: churn under feed\n\n10% of the connections leave and come back every second for the soak time, under the feed; RSS and V8 heap before the churn (least over 10 s), at its peak, and after it ends (least over 30 s; same number of connections).", ["server", "conns", "soak s", "reconnects", "RSS before", "RSS peak", "RSS after", "heap before", "heap after", "finals", "samples"], (r) => [label(r), n(r.params.connections), n(r.figures.soakSec), n(r.figures.soakReconnects), n(r.figures.soakRssBeforeMB, 1), n(r.figures.soakRssPeakMB, 1), n(r.figures.soakRssAfterMB, 1), n(r.figures.soakHeapBeforeMB, 1), n(r.figures.soakHeapAfterMB, 1), fin(r.figures), String(r.figures.soakSamples ?? "")]],
    ["capacity", `## Capacity\n\nConnections raised step by step at the given feed until p99 or the visibility lag's p99 exceeds flush-ms + 100 ms (or connections fail or drop, or final values are missing). Run ${runs.find((r) => r.scenario === "capacity")?.date ?? ""} (\`npm run bench -- capacity\`). p99 is how old a quote is when it arrives, not how often a connection hears from the server: frames per connection per second (for quotecast and the ceiling at most 1000 / flush-ms; naive's and nchan's frames carry one quote each) says that.`, ["server", "conns", "feed/s", "flush ms", "open", "p99 ms", "vis p99 ms", "frames/s", "frames/s per conn", "held", "server CPU %", "loadgen CPU %"], (r) => [label(r), n(r.params.connections), n(r.params.rate), n(r.params.flushMs), n(r.figures.open), n(r.figures.p99Ms), n(r.figures.visP99Ms), n(r.figures.framesPerSec), perConn(r), r.figures.held ? "yes" : "no", n(r.figures.serverCpuPct), n(r.figures.loadgenCpuPct)]],
  ];
  for (const [scenario, title, head, row] of sections) {
    const rs = runs.filter((r) => r.scenario === scenario);
    if (rs.length > 0) md.push(title, "", provenance(rs), "", table(head, sortRuns(rs).map(row)), "");
    if (scenario === "storm") md.push(...bandwidthSection(runs.filter((r) => r.scenario === "bandwidth")));
  }
  const failed = runs.filter((r) => typeof r.figures.error === "string");
  if (failed.length > 0) md.push("## Runs that failed", "", ...failed.map((r) => `- ${r.scenario} ${label(r)} ${r.params.connections}: ${r.figures.error}`), "");
  writeFileSync(SUMMARY, md.join("\n"));
}

const MODE_ORDER = ["full", "delta", "gzip", "delta-gzip"];

/** The bandwidth scenario (issue 15): the update modes side by side on both workloads, then idle memory. */
export function bandwidthSection(rs: readonly RunLine[]): string[] {
  if (rs.length === 0) return [];
  const modeOf = (r: RunLine) => (r.server === "quotecast" ? (r.params.mode?.name ?? "full") : "");
  const workload = (r: RunLine) => (r.params.sharedLists ? "shared" : "own");
  const busy = mergeRounds(rs.filter((r) => r.params.extra !== "idle"))
    .sort((a, b) => workload(a).localeCompare(workload(b)) || SERVER_ORDER.indexOf(label(a)) - SERVER_ORDER.indexOf(label(b)) || MODE_ORDER.indexOf(modeOf(a)) - MODE_ORDER.indexOf(modeOf(b)));
  const idle = rs.filter((r) => r.params.extra === "idle");
  const same = (r: RunLine, server: string, mode: string) => busy.find((x) => workload(x) === workload(r) && x.server === server && modeOf(x) === mode && typeof x.figures.error !== "string");
  const share = (a: unknown, b: unknown) => (typeof a === "number" && typeof b === "number" && b > 0 ? `${Math.round((100 * a) / b)}%` : "–");
  const first = busy[0] ?? rs[0]!;
  const rounds = Math.max(1, ...busy.map((r) => (typeof r.figures.rounds === "number" ? r.figures.rounds : 1)));
  /** A median with its rounds' range, when there were several. */
  const spread = (r: RunLine, k: string) => (typeof r.figures.rounds === "number" && r.figures.rounds > 1 ? `${n(r.figures[k])} (${n(r.figures[`${k}Min`])}–${n(r.figures[`${k}Max`])})` : n(r.figures[k]));
  const out = [
    "## Bandwidth: update modes",
    "",
    `${n(first.params.connections)} connections, flush ${first.params.flushMs} ms, feed ${n(first.params.rate)} quotes/s on ${first.params.universe} symbols with the ${first.params.mix ?? "market"} mix (field change rates in the last column, measured by the publisher); each connection its own ${first.params.perConnection} symbols (\`own\`) or one of 50 shared lists of ${first.params.perConnection} (\`shared\`). ` +
      "Modes: `full` (JSON quotes, today's default), `delta` (`delta=1`), `gzip` (`--compression gzip`, clients send `Accept-Encoding: gzip` and inflate each stream as it arrives), `delta-gzip` (both). " +
      "Bytes are the body bytes on the wire after chunked decoding (compressed, for gzip), per quote object delivered (a full quote or a delta) and per connection per second; % of full compares with full mode on the same workload. " +
      "frames/s is beside the ceiling's (bare uWS, prebuilt frames) on the same workload. Server CPU per frame is the server's CPU time over frames written; vis p99 is the visibility lag (see the matrix); RSS / conn is the server's RSS under the feed over its RSS before any connection, per connection." +
      (rounds > 1 ? ` Every mode ran in each of ${rounds} rounds, the modes interleaved; each figure is the median of its rounds, with the range of frames/s and p99 in brackets (two runs of one build differ by 10–25% in frames/s here: the load generator and the server share 2 cores).` : ""),
    "",
    provenance(rs),
    "",
    table(
      ["workload", "server", "mode", "frames/s", "% of ceiling", "quotes/s", "B / quote", "% of full", "B / conn·s", "server µs / frame", "p99 ms", "vis p99 ms", "RSS KB / conn", "finals", "server CPU %", "loadgen CPU %", "field change rates"],
      busy.map((r) => [
        workload(r),
        label(r),
        modeOf(r) || "–",
        spread(r, "framesPerSec"),
        r.server === "ceiling" ? "" : share(r.figures.framesPerSec, same(r, "ceiling", "")?.figures.framesPerSec),
        n(r.figures.deliveredPerSec),
        n(r.figures.bytesPerQuote, 1),
        r.server === "quotecast" ? share(r.figures.bytesPerQuote, same(r, "quotecast", "full")?.figures.bytesPerQuote) : "",
        n(r.figures.bytesPerConnSec),
        n(r.figures.cpuPerFrameUs, 1),
        spread(r, "p99Ms"),
        n(r.figures.visP99Ms),
        n(r.figures.rssPerConnBusyKB, 2),
        fin(r.figures),
        n(r.figures.serverCpuPct),
        n(r.figures.loadgenCpuPct),
        typeof r.figures.error === "string" ? `failed: ${r.figures.error}` : String(r.figures.fieldChangeRates ?? ""),
      ]),
      3,
    ),
    "",
  ];
  if (idle.length > 0) {
    out.push(
      "Idle memory per connection, feed off: compression off (`full`), `--compression gzip` with clients that do not ask for it (`gzip-not-asked`), and with clients that do (`gzip`); the least RSS over the settle window once the young generation is back, as in the idle scenario.",
      "",
      table(
        ["server", "mode", "conns", "open", "KB RSS / conn settled", "KB RSS / conn at 3 s", "KB heap / conn", "young gen back s"],
        idle.map((r) => [label(r), modeOf(r), n(r.params.connections), n(r.figures.opened), n(r.figures.rssPerConnKB, 2), n(r.figures.rssPerConnEarlyKB, 2), n(r.figures.heapPerConnKB, 2), young(r)]),
      ),
      "",
    );
  }
  return out;
}

function sortRuns(rs: RunLine[]): RunLine[] {
  return [...rs].sort(
    (a, b) =>
      a.params.flushMs - b.params.flushMs ||
      a.params.rate - b.params.rate ||
      a.params.connections - b.params.connections ||
      SERVER_ORDER.indexOf(label(a)) - SERVER_ORDER.indexOf(label(b)),
  );
}
