// `npm run profile [-- options]`: one fan-out run against quotecast under a profiler, reports
// written under bench/profiles/<date>-<tool>/ (not committed).
//
//   --tool cpu-prof|doctor|flame|all   (default all)
//   --connections N (default 5000)  --rate N (default 2000)  --flush-ms N (default 50)
//   --measure S (default 10)  --mode full|delta (default full; bench/lib/modes.ts)
//   --shared-lists N (default 0: each connection its own symbols; N: one of N shared lists)
//   --measure S (default 10)  --universe N (default 200)  --per-connection N (default 20)
//
// cpu-prof: `node --cpu-prof` on the primary, whose execArgv the forked worker inherits,
//   summarised here as the top functions by self time (top.txt); open the .cpuprofile in
//   Chrome DevTools (Performance → Load profile) or speedscope for the flame chart.
// doctor / flame: clinic refuses clustered processes, so these run one quotecast worker without
//   its primary (bench/lib/standalone-worker.ts: the same workerMain(), local admission, no
//   metrics port) as `clinic doctor|flame -- node standalone-worker.js ...`, NO_INSIGHT=1.

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cleanupAll, installCleanupHooks } from "./lib/processes.js";
import { parseModes } from "./lib/modes.js";
import { runOne, type RunSpec } from "./lib/run-one.js";

const PROFILES = fileURLToPath(new URL("../../../bench/profiles/", import.meta.url));
const CLINIC = fileURLToPath(new URL("../../../node_modules/.bin/clinic", import.meta.url));
const log = (s: string) => process.stderr.write(s + "\n");

const { values } = parseArgs({
  options: {
    tool: { type: "string", default: "all" },
    connections: { type: "string", default: "5000" },
    rate: { type: "string", default: "2000" },
    "flush-ms": { type: "string", default: "50" },
    measure: { type: "string", default: "10" },
    mode: { type: "string", default: "full" },
    "shared-lists": { type: "string", default: "0" },
    universe: { type: "string", default: "200" },
    "per-connection": { type: "string", default: "20" },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

/** Top functions by self time in a .cpuprofile: the text a reader checks first. */
export function topFrames(profile: CpuProfile, count = 25): string {
  const self = new Map<number, number>();
  for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1);
  const byFn = new Map<string, number>();
  for (const n of profile.nodes) {
    const c = n.callFrame;
    const key = `${c.functionName || "(anonymous)"} ${c.url.replace(/^.*\/(node_modules|dist|src)\//, "$1/")}:${c.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + (self.get(n.id) ?? 0));
  }
  const total = profile.samples.length;
  return [...byFn.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
    .join("\n");
}

async function main(): Promise<number> {
  const tools = values.tool === "all" ? ["cpu-prof", "doctor", "flame"] : [values.tool!];
  const stamp = new Date().toISOString().slice(0, 16).replace(":", "-");
  for (const tool of tools) {
    if (!["cpu-prof", "doctor", "flame"].includes(tool)) throw new Error(`--tool: cpu-prof, doctor, flame or all, not ${tool}`);
    const dir = `${PROFILES}${stamp}-${tool}`;
    // clinic refuses to start next to trace logs an interrupted run left in the working directory.
    for (const f of readdirSync(".")) if (/^node_trace\.\d+\.log$/.test(f)) rmSync(f);
    mkdirSync(dir, { recursive: true });
    const spec: RunSpec = {
      scenario: "profile",
      server: "quotecast",
      connections: Number(values.connections),
      rate: Number(values.rate),
      flushMs: Number(values["flush-ms"]),
      universe: Number(values.universe),
      perConnection: Number(values["per-connection"]),
      slowShare: 0,
      warmupSec: 2,
      measureSec: Number(values.measure),
      workers: 1,
      concurrency: 100,
      stopGraceMs: 180_000,
      mode: parseModes(values.mode!)[0]!,
      sharedLists: Number(values["shared-lists"]),
      ...(tool === "cpu-prof"
        ? // Not NODE_OPTIONS (Node refuses --cpu-prof there): execArgv, which cluster.fork passes on.
          { wrap: [process.execPath, "--cpu-prof", `--cpu-prof-dir=${dir}`] }
        : // clinic refuses the cluster: one worker without its primary, same code.
          { wrap: [CLINIC, tool, "--dest", dir, "--", process.execPath], standalone: true, env: { NO_INSIGHT: "1", NO_UPDATE_NOTIFIER: "1" } }),
    };
    log(`profile ${tool}: quotecast, ${spec.connections} connections, feed ${spec.rate}/s, flush ${spec.flushMs} ms → ${dir}`);
    const f = await runOne(spec, log);
    log(`  mode ${spec.mode!.name}: ${f.framesPerSec} frames/s, p99 ${f.p99Ms} ms, visibility lag p99 ${f.visP99Ms} ms, ${f.bytesPerQuote} B/quote, ${f.cpuPerFrameUs} µs server CPU/frame, server CPU ${f.serverCpuPct}%${f.tickMeanMs === undefined ? "" : `, ticks ${f.tickMeanMs} ms mean, ${f.ticksOverFlushPct}% longer than the window`}`);
    if (tool === "cpu-prof") {
      // The worker did the work: its profile is the biggest file.
      const files = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).map((x) => `${dir}/${x}`).sort((a, b) => statSync(b).size - statSync(a).size);
      if (files.length === 0) throw new Error(`no .cpuprofile written in ${dir}`);
      const top = topFrames(JSON.parse(readFileSync(files[0]!, "utf8")) as CpuProfile);
      writeFileSync(`${dir}/top.txt`, `${files[0]}\nself time, whole run (connect, warm-up, measurement)\n${top}\n`);
      log(`  worker profile ${files[0]}; top functions by self time:\n${top}`);
    }
  }
  return 0;
}

installCleanupHooks(cleanupAll);
main()
  .catch((err: unknown) => {
    log(`profile failed: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  })
  .then(async (code) => {
    await cleanupAll();
    process.exit(code);
  });
