import t from "tap";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../scripts/fuzz.mjs", import.meta.url));
/** Fixed, so that CI replays the same inputs; QC_FUZZ_SEED tries another by hand. */
const SEED = Number(process.env.QC_FUZZ_SEED ?? 20261206);

interface FuzzReport {
  seed: number;
  durationS: number;
  concurrency: number;
  inputs: number;
  counts: Record<string, number>;
  outcomes: Record<string, Record<string, number>>;
  baselineRssMiB: number;
  rssMarginMiB: number;
  finalRssMiB: number;
  baselineFds: number;
  finalFds: number;
  quotesReceived: number;
  checks: Record<string, boolean>;
  failures: string[];
  unexpectedEvents: unknown[];
  ok: boolean;
}

/** Every check the script makes: one that stops being reported fails here instead of vanishing. */
const CHECKS = [
  "workersAlive",
  "connectionsClosed",
  "invalidCounted",
  "memoryNearBaseline",
  "descriptorsBackToBaseline",
  "goodClientStatus200",
  "goodClientGotEveryQuote",
  "noUnexpectedEvents",
  "noCheckFailures",
  "noTokenInLogs",
];

t.test("fuzz - a cluster under 15 s of malformed HTTP and NATS input keeps its workers, memory and good clients", async (t) => {
  const child = spawn(process.execPath, [SCRIPT, "--duration", "15", "--concurrency", "8", "--seed", String(SEED), "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  const line = out.trim().split("\n").at(-1) ?? "";
  let report: FuzzReport;
  try {
    report = JSON.parse(line) as FuzzReport;
  } catch {
    t.fail(`the fuzz script printed no report (exit ${code}):\n${out}\n${err}`);
    return;
  }
  t.comment(`seed ${report.seed}: ${report.inputs} inputs ${JSON.stringify(report.counts)}; RSS ${report.baselineRssMiB} -> ${report.finalRssMiB} MiB`);
  t.match(err, new RegExp(`replay: npm run fuzz -- --seed ${SEED} `), "the seed and how to replay it are printed");
  t.equal(report.seed, SEED);
  t.equal(report.durationS, 15);
  t.equal(report.concurrency, 8);
  t.same(Object.keys(report.checks).sort(), [...CHECKS].sort(), "every check is reported");
  for (const name of CHECKS) t.equal(report.checks[name], true, `${name} (seed ${report.seed})`);
  t.same(report.failures, [], "no input broke a check");
  t.same(report.unexpectedEvents, [], "the good client saw only snapshot and quotes events");
  t.equal(report.quotesReceived, 100, "the good client got every quote after the storm");
  t.ok(report.finalRssMiB <= report.baselineRssMiB + report.rssMarginMiB, `RSS ${report.baselineRssMiB} -> ${report.finalRssMiB} MiB, within ${report.rssMarginMiB} MiB`);
  t.ok(report.rssMarginMiB <= 64, "the memory margin stays tight");
  t.ok(report.finalFds <= report.baselineFds + 2, `descriptors ${report.baselineFds} -> ${report.finalFds}`);
  t.ok(Object.keys(report.counts).length >= 20, "every input kind was tried");
  t.equal(report.inputs, Object.values(report.counts).reduce((a, b) => a + b, 0), "inputs add up");
  t.equal(report.ok, true, "the report's own verdict");
  t.equal(code, 0);
});
