// Results: a table per scenario, quotecast against the baseline, with the machine it ran on.
// Written to bench/results/<date>-<scenario>.md per run and summarised in bench/RESULTS.md,
// so numbers are never quoted without the hardware and the date that produced them.
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { fileURLToPath } from "node:url";
export const RESULTS_DIR = fileURLToPath(new URL("../../../../bench/results/", import.meta.url));
export const SUMMARY_FILE = fileURLToPath(new URL("../../../../bench/RESULTS.md", import.meta.url));
export const SHARED_NOTE = "client, server, NATS and feed share the same 2 cores (loopback)";
export function machine(natsBinary) {
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    let nproc = availableParallelism();
    try {
        nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
    }
    catch {
        /* no coreutils: availableParallelism() is the same number */
    }
    let natsServer = "unknown";
    try {
        natsServer = execFileSync(natsBinary, ["--version"], { encoding: "utf8" }).trim();
    }
    catch {
        /* shown as unknown */
    }
    return {
        date: new Date().toISOString(),
        nproc,
        cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
        node: process.version,
        kernel: release(),
        natsServer,
        loadAtStart: loadavg()[0] ?? 0,
        commit: commit(),
    };
}
function commit() {
    try {
        const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
        const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { encoding: "utf8" }).trim() !== "";
        return dirty ? `${head} + uncommitted src/ changes` : head;
    }
    catch {
        return "unknown (not a git checkout)";
    }
}
export function fmt(n, digits = 0) {
    if (!Number.isFinite(n))
        return "–";
    return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function ratio(r) {
    if (r.baseline === 0 || !Number.isFinite(r.baseline) || !Number.isFinite(r.quotecast))
        return "–";
    const x = r.quotecast / r.baseline;
    const mark = r.better === "none" ? "" : (r.better === "higher") === x >= 1 ? " ✓" : " ✗";
    return `${x.toFixed(2)}×${mark}`;
}
export function markdownTable(rows) {
    const lines = ["| metric | quotecast | baseline | quotecast/baseline |", "| --- | ---: | ---: | ---: |"];
    for (const r of rows)
        lines.push(`| ${r.metric} | ${fmt(r.quotecast, r.digits)} | ${fmt(r.baseline, r.digits)} | ${ratio(r)} |`);
    return lines.join("\n");
}
function machineLines(m) {
    return [
        `- date: ${m.date}`,
        `- machine: nproc ${m.nproc}, ${m.cpu}, Linux ${m.kernel}`,
        `- quotecast ${m.commit}; node ${m.node}; ${m.natsServer}; load average at start ${m.loadAtStart.toFixed(2)}`,
        `- ${SHARED_NOTE}`,
    ].join("\n");
}
function section(r) {
    const params = Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(", ");
    return [`### ${r.title}`, "", `Parameters: ${params}`, "", markdownTable(r.rows), "", ...r.details.flatMap((d) => [d, ""])].join("\n");
}
/** Write one file per scenario of this run and append the run to the summary; returns the paths. */
export function writeResults(m, results, command) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stamp = m.date.slice(0, 16).replace(":", "-");
    const files = [];
    for (const r of results) {
        const file = `${RESULTS_DIR}${stamp}-${r.scenario}.md`;
        writeFileSync(file, [`# quotecast bench: ${r.scenario}`, "", machineLines(m), `- command: \`${command}\``, "", section(r)].join("\n"));
        files.push(file);
    }
    if (!existsSync(SUMMARY_FILE)) {
        writeFileSync(SUMMARY_FILE, "# Benchmark results\n\nAppended by `npm run bench` (bench/run.ts), newest last. Each run races quotecast against " +
            "bench/baseline/node-sse-server.ts (a plain node:http SSE server) under the same load on the same machine. " +
            "Ratios are quotecast/baseline; ✓ marks the better side for quotecast. Full per-run files are in bench/results/.\n");
    }
    appendFileSync(SUMMARY_FILE, ["", `## Run ${m.date}`, "", machineLines(m), `- command: \`${command}\``, "", ...results.map(section)].join("\n"));
    return files;
}
