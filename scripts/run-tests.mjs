#!/usr/bin/env node
// `npm test` after lint and build: pure unit tests in parallel, then integration tests one at a time.
//
// A test file is an integration test when it starts processes or opens sockets: it imports
// test/helpers/, node:child_process, node:net or node:http, drives Chromium, or runs dist/. Those
// stay serial (.taprc's jobs: 1) so their timing assertions are not starved on 2 cores; the
// others (pure functions, exact bytes, fast-check models) run in parallel. A new test file is
// classified by the same rule, with no list to keep up to date.
//
//   node scripts/run-tests.mjs [unit|integration] [--list]
//
// Prints tap's output, then one closing line summing both runs, `# { total: N, pass: N, fail: N }`,
// which .ci/run reads.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const INTEGRATION = /["'](?:\.\.?\/)+(?:test\/)?helpers\/|["']node:(?:child_process|net|http)["']|playwright|chromium|dist\//;

function* testFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "helpers" && entry.name !== "artifacts") yield* testFiles(path);
    } else if (entry.name.endsWith(".test.ts")) yield path;
  }
}

/** Whether a test file's source makes it an integration test (see the head of this file). */
export function isIntegration(source) {
  return INTEGRATION.test(source);
}

export function classify(root = ROOT) {
  const unit = [];
  const integration = [];
  // bench/test holds the bench's pure parts (histogram, capacity rule, chart); the bench itself stays out.
  for (const file of [...testFiles(join(root, "test")), ...testFiles(join(root, "bench", "test"))].sort()) {
    (isIntegration(readFileSync(file, "utf8")) ? integration : unit).push(relative(root, file));
  }
  return { unit, integration };
}

const SUMMARY = /^# \{ *total: *\d+.*\}\s*$/;
/** Terminal colour codes (ESC [ ... m), which tap may write around its summary. */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Run tap on `files` with `jobs` workers; resolves with its exit code and its closing counts. */
function runTap(files, jobs) {
  return new Promise((resolve) => {
    const tap = spawn(process.execPath, [join(ROOT, "node_modules/tap/dist/esm/run.mjs"), `--jobs=${jobs}`, ...files], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let last = "";
    let pending = "";
    tap.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const plain = line.replace(COLOUR, "");
        if (SUMMARY.test(plain)) last = plain;
      }
    });
    tap.on("close", (code, signal) => {
      const counts = {};
      for (const m of last.matchAll(/(\w+): *(\d+)/g)) counts[m[1]] = Number(m[2]);
      resolve({ code: code ?? (signal ? 1 : 0), counts });
    });
  });
}

async function main(argv) {
  const { unit, integration } = classify();
  const which = argv.find((a) => a === "unit" || a === "integration");
  if (argv.includes("--list")) {
    for (const f of unit) console.log(`unit         ${f}`);
    for (const f of integration) console.log(`integration  ${f}`);
    return 0;
  }
  const runs = [];
  if (which !== "integration" && unit.length > 0) {
    console.log(`# unit tests: ${unit.length} files, ${Math.max(2, availableParallelism())} at a time`);
    runs.push(await runTap(unit, Math.max(2, availableParallelism())));
  }
  if (which !== "unit" && integration.length > 0) {
    console.log(`# integration tests: ${integration.length} files, one at a time`);
    runs.push(await runTap(integration, 1));
  }
  const total = {};
  for (const { counts } of runs) for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
  const keys = ["total", "pass", "fail", "skip", "todo"].filter((k) => total[k] !== undefined);
  console.log(`\n# { ${keys.map((k) => `${k}: ${total[k]}`).join(", ")} }`);
  return runs.some((r) => r.code !== 0) ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
