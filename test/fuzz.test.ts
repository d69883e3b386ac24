import t from "tap";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../scripts/fuzz.mjs", import.meta.url));

interface FuzzReport {
  seed: number;
  inputs: number;
  counts: Record<string, number>;
  checks: Record<string, boolean>;
  failures: string[];
  ok: boolean;
}

t.test("fuzz - a cluster under 15 s of malformed HTTP and NATS input keeps its workers, memory and good clients", async (t) => {
  const child = spawn(process.execPath, [SCRIPT, "--duration", "15", "--concurrency", "8", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
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
  t.comment(`seed ${report.seed}: ${report.inputs} inputs ${JSON.stringify(report.counts)}`);
  for (const [name, pass] of Object.entries(report.checks)) t.ok(pass, `${name} (seed ${report.seed})`);
  t.same(report.failures, [], "no input broke a check");
  t.ok(Object.keys(report.counts).length >= 20, "every input kind was tried");
  t.equal(code, 0);
});
