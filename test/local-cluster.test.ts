import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { waitFor } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

const SCRIPT = fileURLToPath(new URL("../scripts/local-cluster", import.meta.url));

interface State {
  pid: number;
  runDir: string;
  pids: Record<string, number>;
  topology: {
    nats: { name: string; clientPort: number; monitorPort: number }[];
    quotecast: { name: string; port: number; metricsPort: number; nats: string[]; url: string }[];
    feed: { name: string; nats: string[] };
  };
}

/** The environment a user's shell would give the script: without tap's loader hooks in NODE_OPTIONS. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test("local-cluster - one command starts 3 clustered NATS nodes, 2 quotecast nodes on their own NATS node, the feed; stop ends it all", { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qc-local-cluster-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = userEnv({ LOCAL_CLUSTER_FREE_PORTS: "1", LOCAL_CLUSTER_STATE: join(dir, "state.json"), LOCAL_CLUSTER_FEED_RATE: "100", LOCAL_CLUSTER_SYMBOLS: "20",
    // Shorter than the wait below, so a cluster that does not come up says why in its stderr.
    LOCAL_CLUSTER_READY_MS: "45000" });
  const up = spawn(SCRIPT, ["up", "--json"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  up.stdout.on("data", (d: Buffer) => (out += d.toString()));
  up.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => up.on("exit", (code) => resolve(code)));
  t.teardown(() => {
    if (up.exitCode === null) up.kill("SIGTERM");
  });
  await waitFor(() => out.includes("\n") || up.exitCode !== null, 60_000, "the ready line").catch((e: Error) => {
    throw new Error(`${e.message}; its stderr:\n${err}`);
  });
  const state = JSON.parse(out.split("\n")[0]!) as State;
  const topo = state.topology;
  t.same(topo.nats.map((n) => n.name), ["nats-1", "nats-2", "nats-3"]);
  t.same(topo.quotecast.map((q) => q.name), ["quotecast-1", "quotecast-2"]);
  t.notOk(topo.nats.some((n) => n.clientPort === 4222), "never the shared NATS server");
  t.match(err, /quotecast-1 +http:\/\/127\.0\.0\.1:\d+\//, "prints where everything is");

  // Each quotecast node is connected to its own NATS node (the first of its list).
  for (const [i, q] of topo.quotecast.entries()) {
    const own = topo.nats[i]!;
    t.equal(q.nats[0], `nats://127.0.0.1:${own.clientPort}`, `${q.name} lists ${own.name} first`);
    const connz = (await (await fetch(`http://127.0.0.1:${own.monitorPort}/connz`)).json()) as { connections?: { name?: string }[] };
    t.ok(connz.connections?.some((c) => c.name?.startsWith("quotecast-")), `${q.name} is connected to ${own.name}`);
  }

  // The stream is replicated over the three nodes.
  const nc = await connect({ servers: `nats://127.0.0.1:${topo.nats[2]!.clientPort}` });
  t.teardown(() => nc.close());
  const info = await (await jetstreamManager(nc)).streams.info("QUOTES");
  t.equal(info.config.num_replicas, 3, "QUOTES has 3 replicas");

  // Both nodes serve the feed's quotes.
  for (const q of topo.quotecast) {
    const c = RawSseClient.open(q.port, "/quotes?symbols=AAPL,MSFT");
    t.teardown(() => c.close());
    // The feed may not have reached AAPL or MSFT yet when the nodes are ready: snapshot or quotes.
    const seen = () => new Set([...c.quotes("snapshot"), ...c.quotes()].flatMap((e) => e.quotes.map((x) => x.sym)));
    await c.waitFor(() => seen().size === 2 && c.quotes().length > 0, 10_000, `live quotes of both symbols from ${q.name}`);
    t.pass(`${q.name} serves the feed's quotes`);
  }

  const status = spawn(SCRIPT, ["status"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let statusOut = "";
  status.stdout.on("data", (d: Buffer) => (statusOut += d.toString()));
  await new Promise((resolve) => status.on("exit", resolve));
  t.match(statusOut, /quotecast-1 +ready/);
  t.match(statusOut, /quotecast-2 +ready/);
  t.match(statusOut, /nats-3 +up/);

  const stop = spawn(SCRIPT, ["stop"], { env, stdio: "ignore" });
  await new Promise((resolve) => stop.on("exit", resolve));
  t.equal(await exited, 0, "exits 0 after a clean stop");
  t.notOk(Object.values(state.pids).some(alive), "every process it started is gone");
  t.notOk(existsSync(state.runDir), "its temporary stores are removed");
});

t.test("local-cluster - topology prints the ports and connections it would use", async (t) => {
  const p = spawn(SCRIPT, ["topology", "--json"], { env: userEnv({ LOCAL_CLUSTER_PORT_OFFSET: "100" }), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => p.on("exit", resolve));
  const topo = JSON.parse(out) as State["topology"];
  t.same(topo.nats.map((n) => n.clientPort), [4401, 4402, 4403], "deploy/topology.json's ports plus the offset");
  t.same(topo.quotecast[1]!.nats, ["nats://127.0.0.1:4402", "nats://127.0.0.1:4403", "nats://127.0.0.1:4401"]);
});
