import t from "tap";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { reportReplicas, QUOTE_STREAM } from "../src/ingest/quote-stream.js";
import { startNatsCluster, type NatsCluster } from "./helpers/nats-server.js";
import { startQuotecast } from "./helpers/quotecast.js";

// The official NATS Helm chart sets no_advertise: true, so a client sees one server and the
// inferred replica count is 1. --stream-replicas always wins, and the stream's actual replicas
// are logged (with a warning when they fall short).

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
let cluster: NatsCluster;

t.before(async () => {
  cluster = await startNatsCluster(3, { args: ["--no_advertise"] });
});
t.teardown(() => cluster?.cleanup());

async function streamReplicas(): Promise<number | undefined> {
  const nc = await connect({ servers: cluster.urls[0]! });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(QUOTE_STREAM)).config.num_replicas;
  } finally {
    await nc.close();
  }
}

async function deleteStream(): Promise<void> {
  const nc = await connect({ servers: cluster.urls[0]! });
  try {
    await (await jetstreamManager(nc)).streams.delete(QUOTE_STREAM).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

function replicasLine(output: string): Record<string, unknown> | undefined {
  const line = output.split("\n").find((l) => l.includes('"stream":"QUOTES"') && l.includes('"replicas"') && l.includes('"visibleServers"'));
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}

t.test("stream-replicas - behind no_advertise the inference sees one server; --stream-replicas 3 wins", async (t) => {
  // Only the first node's URL, as a Kubernetes Service gives one address.
  const inferred = await startQuotecast({ nats: cluster.urls[0]! });
  await inferred.stop();
  t.equal(await streamReplicas(), 1, "inferred: 1 replica, the cluster's size is hidden");
  t.match(replicasLine(inferred.output()), { replicas: 1, visibleServers: 1, msg: "quote stream replicas" });
  await deleteStream();

  const told = await startQuotecast({ nats: cluster.urls[0]!, env: { QUOTECAST_STREAM_REPLICAS: "3" } });
  await told.stop();
  t.equal(await streamReplicas(), 3, "QUOTECAST_STREAM_REPLICAS=3: 3 replicas");
  t.match(replicasLine(told.output()), { replicas: 3, wanted: 3, msg: "quote stream replicas" }, "the actual replicas are logged");
  await deleteStream();
});

t.test("stream-replicas - an existing stream with fewer replicas than asked: a warning that says how to raise them", async (t) => {
  const first = await startQuotecast({ nats: cluster.urls[0]!, args: ["--stream-replicas", "1"] });
  await first.stop();
  const second = await startQuotecast({ nats: cluster.urls[0]!, args: ["--stream-replicas", "3"] });
  await second.stop();
  t.equal(await streamReplicas(), 1, "an existing stream is not changed");
  t.match(replicasLine(second.output()), { level: 40, replicas: 1, wanted: 3, msg: /fewer than --stream-replicas 3.*nats stream edit QUOTES --replicas 3/ });
  await deleteStream();
});

t.test("stream-replicas - the feed takes --stream-replicas too", async (t) => {
  const child = spawn(process.execPath, [CLI, "feed", "--nats", cluster.urls[1]!, "--duration", "0.3", "--rate", "10", "--stream-replicas", "2"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  t.equal(code, 0, "the feed ran and exited 0");
  t.equal(await streamReplicas(), 2);
  t.match(replicasLine(out), { replicas: 2, wanted: 2 });
  await deleteStream();
});

t.test("stream-replicas - inferred: a warning when the stream has fewer replicas than visible servers (up to 3)", async (t) => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const info = (n: number) => ({ config: { num_replicas: n } }) as unknown as StreamInfo;
  reportReplicas(info(1), 3, undefined, log);
  reportReplicas(info(3), 5, undefined, log);
  reportReplicas(info(1), 1, undefined, log);
  reportReplicas(info(1), 3, 1, log);
  t.match(lines[0], { level: 40, replicas: 1, visibleServers: 3, msg: /1 replica\(s\) while 3 NATS servers are visible/ });
  t.match(lines[1], { level: 30, replicas: 3 }, "3 of 5: as many as the default asks for");
  t.match(lines[2], { level: 30, replicas: 1 }, "a single server: nothing to warn about");
  t.match(lines[3], { level: 30, replicas: 1, wanted: 1 }, "asked for 1: what the operator chose");
});
