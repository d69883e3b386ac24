import t from "tap";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { freePorts, startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast, waitFor } from "./helpers/quotecast.js";

// A port in use is a configuration error: the server stops at once, exits non-zero and says so
// in one line, so that a first-time user, systemd and Kubernetes all see a failed start instead
// of a wall of restarts (or, with metrics off, an exit code 0).

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
let nats: NatsServer;
t.before(async () => {
  nats = await startNatsServer();
});
t.teardown(() => nats?.cleanup());

/** Hold 127.0.0.1:port with a plain listener (no SO_REUSEPORT, so uWS cannot share it). */
async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}

function serve(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, "serve", "--host", "127.0.0.1", "--nats", nats.url, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

t.test("port-in-use - the HTTP port taken: exit 1 at once, one line on stderr, no restarts", async (t) => {
  const [port, metricsPort] = (await freePorts(2)) as [number, number];
  const holder = await occupy(port);
  t.teardown(() => holder.close());
  const r = await serve(["--port", String(port), "--metrics-port", String(metricsPort), "--workers", "2"]);
  t.equal(r.code, 1, "exits 1");
  t.equal(r.stderr, `quotecast: cannot listen on 127.0.0.1:${port}: the port is in use or the address is not local; choose another --port or --host\n`, "one clear line");
  t.notMatch(r.stdout, /restarting|retrying/, "no restart");
  t.ok(r.ms < 10_000, `gave up in ${r.ms} ms`);
});

t.test("port-in-use - with --metrics-port 0 the exit is still 1, never 0", async (t) => {
  const [port] = (await freePorts(1)) as [number];
  const holder = await occupy(port);
  t.teardown(() => holder.close());
  const r = await serve(["--port", String(port), "--metrics-port", "0", "--workers", "1"]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^quotecast: cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
  t.equal(r.stderr.split("\n").filter((l) => l !== "").length, 1, "one line");
});

t.test("port-in-use - the metrics port taken: exit 1 before any worker starts", async (t) => {
  const [port, metricsPort] = (await freePorts(2)) as [number, number];
  const holder = await occupy(metricsPort);
  t.teardown(() => holder.close());
  const r = await serve(["--port", String(port), "--metrics-port", String(metricsPort), "--metrics-host", "127.0.0.1", "--workers", "2"]);
  t.equal(r.code, 1);
  t.equal(r.stderr, `quotecast: cannot serve metrics on 127.0.0.1:${metricsPort}: the port is in use; choose another --metrics-port (0 turns metrics off)\n`);
  t.notMatch(r.stdout, /worker started/, "no worker was started");
});

t.test("port-in-use - a worker that dies after serving is still restarted", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2"] });
  t.teardown(() => qc.stop());
  // startQuotecast waits for one ready worker; the victim must have served, or its death is a
  // failed start (fatal by design), not a restart.
  await waitFor(() => qc.logged("worker serving") >= 2, 15_000, "both workers serving");
  const [victim] = qc.workerPids();
  process.kill(victim!, "SIGKILL");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !/worker died; restarting/.test(qc.output())) await new Promise((r) => setTimeout(r, 50));
  t.match(qc.output(), /worker died; restarting/);
  while (Date.now() < deadline && qc.workerPids().length < 2) await new Promise((r) => setTimeout(r, 50));
  t.equal(qc.workerPids().length, 2, "back to two workers");
  // Until the new worker serves, a stop would wait drainMs + 5 s for it (it cannot take the drain
  // message while starting), so the test waits for it to serve, which also shows the restart worked.
  await waitFor(() => qc.logged("worker serving") >= 3, 15_000, "the restarted worker serving");
  t.equal(qc.child.exitCode, null, "the primary serves on");
});

/** Local addresses listening on `port`, from /proc/net/tcp and tcp6 (Linux). */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local === undefined || state !== "0A") continue;
      const [addr, hexPort] = local.split(":");
      if (parseInt(hexPort!, 16) === port) out.push(addr!);
    }
  }
  return out;
}

t.test("port-in-use - metrics listen on loopback by default, whatever --host is", { skip: process.platform !== "linux" && "reads /proc/net/tcp" }, async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--host", "0.0.0.0"] });
  t.teardown(() => qc.stop());
  t.same(listeningAddresses(qc.metricsPort), ["0100007F"], "metrics: 127.0.0.1 only");
  t.same(listeningAddresses(qc.port), ["00000000"], "HTTP: every interface (--host 0.0.0.0)");
  t.match(await qc.metrics(), /quotecast_connections/);
});
