// The end-to-end memory figure: RSS of one worker holding `connections` SSE streams, each on its
// own `symbols` unique symbols (the fan-out's worst case), over real sockets. Starts its own
// nats-server (temp store, free port) and `quotecast serve --workers 1` from dist/.
//
//   npm run build && node bench/memory-rss.mjs [connections=1000] [symbols=500] [--max-worker-subscriptions value]
//
// Prints the worker's RSS before and after, per connection, and the statuses the streams got.
// bench/memory.ts splits the heap part. Figures: docs/security.md.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
const C = Number(process.argv[2] ?? 1000), S = Number(process.argv[3] ?? 500);
const free = () => new Promise((r) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const [np, port, mp] = [await free(), await free(), await free()];
const store = mkdtempSync(join(tmpdir(), "qc-mem-"));
const nats = spawn(process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server", ["-js", "-p", String(np), "-a", "127.0.0.1", "-sd", store], { stdio: "ignore" });
await sleep(800);
const qc = spawn(process.execPath, [fileURLToPath(new URL("../dist/cli.js", import.meta.url)), "serve", "--port", String(port), "--host", "127.0.0.1", "--metrics-port", String(mp), "--workers", "1", "--nats", `nats://127.0.0.1:${np}`, "--max-connections-per-ip", "100000", "--max-connect-rate-per-ip", "0", ...(process.argv[4] ? ["--max-worker-subscriptions", process.argv[4]] : [])], { stdio: "ignore", env: { ...process.env, LOG_LEVEL: "warn" } });
for (let i = 0; i < 100; i++) { try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break; } catch {} await sleep(100); }
const worker = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).find((p) => { try { const st = readFileSync(`/proc/${p}/stat`, "utf8"); return Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]) === qc.pid; } catch { return false; } });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${worker}/status`, "utf8"))[1]) * 1024;
await sleep(1000);
const r0 = rss();
const socks = []; const statuses = {};
for (let c = 0; c < C; c++) {
  const syms = Array.from({ length: S }, (_, i) => `E${c.toString(36)}X${i.toString(36)}`).join(",");
  const s = connect(port, "127.0.0.1");
  s.on("error", () => {});
  let got = false;
  s.on("data", (d) => { if (!got) { got = true; const st = /^HTTP\/1\.1 (\d+)/.exec(d.toString())?.[1]; statuses[st] = (statuses[st] ?? 0) + 1; } });
  s.write(`GET /quotes?symbols=${syms} HTTP/1.1\r\nHost: x\r\n\r\n`);
  socks.push(s);
  if (c % 50 === 49) await sleep(20);
}
await sleep(3000);
const r1 = rss();
console.log(`${C} connections x ${S} unique symbols: worker RSS ${(r0 / 2 ** 20).toFixed(1)} -> ${(r1 / 2 ** 20).toFixed(1)} MiB, ${((r1 - r0) / C / 1024).toFixed(1)} KiB per connection; statuses ${JSON.stringify(statuses)}`);
socks.forEach((s) => s.destroy());
qc.kill("SIGKILL"); nats.kill("SIGKILL");
process.exit(0);
