import t, { type Test } from "tap";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { freePort, startNatsCluster, startNatsServer, NatsServerError } from "./helpers/nats-server.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function connectTo(t: Test, servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: 5000 });
  t.teardown(() => nc.close());
  return nc;
}

/** The next message on `subject`, or a rejection after `ms`. */
function nextMessage(nc: NatsConnection, subject: string, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`no message on ${subject} within ${ms} ms`));
    }, ms);
    const sub = nc.subscribe(subject, {
      max: 1,
      callback: (err, msg) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(msg.string());
      },
    });
  });
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

t.test("nats helper - freePort gives a bindable port (so never one in use, like the shared 4222)", async (t) => {
  const port = await freePort();
  t.ok(port > 0 && port < 65536);
  // A port in use (the shared server's 4222 among them) could not be bound: this is the check that can fail.
  t.ok(await listenable(port), "the port can be bound");
});

t.test("nats helper - single server accepts a publish/subscribe roundtrip", { timeout: 30_000 }, async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.cleanup());
  t.not(server.port, 4222, "never the shared server");
  t.equal(server.url, `nats://127.0.0.1:${server.port}`);
  t.ok(server.running);
  t.ok(existsSync(server.storeDir), "store dir exists");

  const nc = await connectTo(t, server.url);
  const got = nextMessage(nc, "quotes.AAPL");
  await nc.flush(); // the subscription reaches the server before the publish
  nc.publish("quotes.AAPL", enc.encode('{"sym":"AAPL"}'));
  t.equal(await got, '{"sym":"AAPL"}');
  t.match(nc.info?.server_name, /^qc-test-/, "unique server name");
});

t.test("nats helper - restart keeps jetstream data", { timeout: 60_000 }, async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.cleanup());
  const { port, storeDir } = server;
  const firstPid = server.pid;

  {
    const nc = await connect({ servers: server.url, timeout: 5000 });
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    await jsm.streams.add({ name: "QUOTES", subjects: ["quotes.>"], max_msgs_per_subject: 1 });
    const js = jetstream(nc, { timeout: 5000 });
    await js.publish("quotes.AAPL", enc.encode('{"sym":"AAPL","seq":1}'));
    await js.publish("quotes.AAPL", enc.encode('{"sym":"AAPL","seq":2}'));
    await js.publish("quotes.MSFT", enc.encode('{"sym":"MSFT","seq":1}'));
    await nc.close();
  }

  await server.restart();
  t.equal(server.port, port, "same port");
  t.equal(server.storeDir, storeDir, "same store");
  t.not(server.pid, firstPid, "a new process");

  const check = async (label: string) => {
    const nc = await connect({ servers: server.url, timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      const info = await jsm.streams.info("QUOTES");
      t.equal(info.state.messages, 2, `${label}: last value per subject kept`);
      const last = await jsm.streams.getMessage("QUOTES", { last_by_subj: "quotes.AAPL" });
      t.equal(last ? dec.decode(last.data) : null, '{"sym":"AAPL","seq":2}', `${label}: latest AAPL`);
    } finally {
      await nc.close();
    }
  };
  await check("after SIGTERM restart");

  // A crash (SIGKILL, no graceful shutdown) must not lose what was acked.
  await server.kill();
  t.notOk(server.running, "killed");
  await server.restart();
  await check("after SIGKILL restart");
});

t.test("nats helper - cleanup stops the server and removes the store dir", { timeout: 30_000 }, async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.cleanup()); // idempotent
  const { port, storeDir } = server;
  t.ok(existsSync(storeDir));
  await server.cleanup();
  t.notOk(server.running, "stopped");
  t.equal(server.pid, undefined);
  t.notOk(existsSync(storeDir), "store dir removed");
  t.ok(await listenable(port), "port released");
  await t.rejects(server.restart(), NatsServerError, "a cleaned-up server cannot be restarted");
});

t.test("nats helper - a server that cannot start fails with its log", { timeout: 30_000 }, async (t) => {
  const err = await startNatsServer({ args: ["--no_such_flag"], startTimeoutMs: 5000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, NatsServerError);
  t.match((err as Error).message, /exited before it was ready/);
  t.match((err as Error).message, /no_such_flag/, "the server's own complaint is included");
});

t.test("nats helper - cluster of 3 forms and takes an R3 stream", { timeout: 110_000 }, async (t) => {
  const cluster = await startNatsCluster(3);
  t.teardown(() => cluster.cleanup());
  t.equal(cluster.urls.length, 3);
  t.equal(cluster.url, cluster.urls.join(","));
  t.notOk(cluster.urls.some((u) => u.endsWith(":4222")), "never the shared server");
  t.equal(new Set(cluster.nodes.map((n) => n.storeDir)).size, 3, "a store per node");

  const nc = await connectTo(t, cluster.urls);
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const info = await jsm.streams.add({
    name: "QUOTES",
    subjects: ["quotes.>"],
    max_msgs_per_subject: 1,
    num_replicas: 3,
  });
  t.equal(info.config.num_replicas, 3);
  t.ok(info.cluster?.leader, "the stream has a leader");
  t.equal(info.cluster?.replicas?.length, 2, "and two replicas");

  const js = jetstream(nc, { timeout: 10_000 });
  await js.publish("quotes.NVDA", enc.encode('{"sym":"NVDA","seq":1}'));

  // Losing one node of three keeps the stream available, and it rejoins.
  const node = cluster.nodes[2]!;
  await node.stop();
  // If the stopped node led the meta group or the stream, a new leader is
  // elected first, which takes several seconds on nats-server 2.9.
  await cluster.waitForJetStream(30_000);
  const nc2 = await connectTo(t, cluster.nodes[0]!.url);
  const jsm2 = await jetstreamManager(nc2, { timeout: 2000, checkAPI: false });
  let last = null;
  for (const deadline = Date.now() + 30_000; !last && Date.now() < deadline; ) {
    last = await jsm2.streams.getMessage("QUOTES", { last_by_subj: "quotes.NVDA" }).catch(() => null);
    if (!last) await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(last ? dec.decode(last.data) : null, '{"sym":"NVDA","seq":1}', "readable with one node down");
  await node.restart();
  t.ok(node.running, "node back");

  // A full restart (all nodes at once) keeps the replicated stream.
  await cluster.restart();
  const nc3 = await connectTo(t, cluster.url.split(","));
  const jsm3 = await jetstreamManager(nc3, { timeout: 2000, checkAPI: false });
  let info3 = null;
  for (const deadline = Date.now() + 30_000; !info3 && Date.now() < deadline; ) {
    info3 = await jsm3.streams.info("QUOTES").catch(() => null);
    if (!info3) await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(info3?.state.messages, 1, "stream data survives a full cluster restart");
});
