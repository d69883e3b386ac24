// Scale-out on a real three-node NATS cluster: two quotecast nodes, each following its own NATS
// node, while NATS nodes fail. Convergence times are printed as test comments (`# ...`).
import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsCluster } from "./helpers/nats-server.js";
import type { AckedPublisher } from "./helpers/acked-publisher.js";
import { metricValue, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";
import { startTwoNodes, type TwoNodes } from "./helpers/two-nodes.js";
import { ResumingClient, waitAllHold } from "./helpers/resuming-client.js";
import { RawSseClient } from "./helpers/sse-client.js";
import { moveStreamLeaderOff } from "./helpers/stream-leader.js";
import { epochFromCreated } from "../src/ingest/quote-stream.js";

const SYMBOLS = Array.from({ length: 20 }, (_, i) => `SO${i}`);
// Bounds from docs/faults.md's figures (given there as measured ranges), with room for a shared
// 2-core machine: each fails if the behaviour it stands for regresses to another order of size.
/** A node reconnects to the next NATS node in 6-38 ms. */
const RECONNECT_MS = 3_000;
/**
 * The first post-kill quote reaches clients in 27-150 ms. The killed NATS node does not lead the
 * stream (the test moves the leader off it first): an election stops every node's feed alike for
 * 4-10 s, longer on a split vote, and is the last test's subject. The node that was on the killed
 * NATS node missed quotes while it moved, and takes the live feed only in stream order: it reads
 * that gap from a stream replica (docs/faults.md), in tens of ms, instead of waiting seconds for a
 * catch-up consumer and the JetStream elections it needs (4-15 s before).
 */
const FIRST_AFTER_KILL_MS = 12_000;
/** Clients hold the latest values within 22-74 ms of the last publish (or a new round). */
const CONVERGED_MS = 3_000;
/** A late node is ready 0.8-1.5 s after its process started. */
const LATE_READY_MS = 10_000;
/** No quote stored for 4.0-8.3 s while the stream elects a leader. */
const ELECTION_GAP_MS = 15_000;
const CLIENTS_PER_NODE = 5;

let topology: TwoNodes;
let cluster: NatsCluster;
let pub: AckedPublisher;
let nodeA: Quotecast;
let nodeB: Quotecast;
const clients: ResumingClient[] = [];

const hostPort = (url: string) => url.replace("nats://", "");

t.before(async () => {
  topology = await startTwoNodes();
  ({ cluster, nodeA, nodeB, pub } = topology);
});

t.teardown(async () => {
  for (const c of clients) c.close();
  await topology?.stop();
});

t.test("scale-out - each node follows its own NATS node, and the stream is replicated over three", async (t) => {
  t.match(nodeA.output(), new RegExp(`"server":"${hostPort(cluster.urls[0]!)}","msg":"connected to NATS"`), "node A on nats-1");
  t.match(nodeB.output(), new RegExp(`"server":"${hostPort(cluster.urls[1]!)}","msg":"connected to NATS"`), "node B on nats-2");
  const info = await (await jetstreamManager(pub.nc)).streams.info("QUOTES");
  t.equal(info.config.num_replicas, 3);
  t.equal(info.cluster?.replicas?.length, 2, "a leader and two replicas");
  // Issue 17, item 1: ids name the stream by its creation time, and every node must name it alike.
  const epochs = await Promise.all([nodeA, nodeB].map(async (node) => {
    const c = RawSseClient.open(node.port, "/quotes?symbols=SO0");
    await c.waitFor(() => c.events.length >= 1, 5_000, "a snapshot");
    c.close();
    return c.lastId()?.split("-")[0];
  }));
  t.same(epochs, [epochFromCreated(info.created), epochFromCreated(info.created)], "both nodes' ids carry the stream's creation time");
});

t.test("scale-out - killing a NATS node mid-stream: both nodes keep serving, fail over, and every client converges to the latest quotes", { timeout: 60_000 }, async (t) => {
  for (let i = 0; i < CLIENTS_PER_NODE; i++) {
    clients.push(new ResumingClient([nodeA.port, nodeB.port], SYMBOLS));
    clients.push(new ResumingClient([nodeB.port, nodeA.port], SYMBOLS));
  }
  await waitFor(() => clients.every((c) => c.streaming), 10_000, "every client streaming");
  const load = pub.run(SYMBOLS, 5, 20);
  await waitFor(() => clients.every((c) => c.state.size === SYMBOLS.length), 10_000, "every client to have every symbol");

  // nats-1 dies without a goodbye, as a crashed host would; node A is connected to it. It leads
  // no stream: what is measured is the nodes' failover, not an election (see FIRST_AFTER_KILL_MS).
  await moveStreamLeaderOff(pub.nc, cluster.nodes[0]!.serverName);
  const killedAt = Date.now();
  await cluster.nodes[0]!.kill();
  const firstAfterKill = new Map<ResumingClient, number>();
  await waitFor(
    () => {
      for (const c of clients) {
        if (!firstAfterKill.has(c) && [...c.state.values()].some((q) => q.ts > killedAt)) firstAfterKill.set(c, Date.now());
      }
      return firstAfterKill.size === clients.length;
    },
    FIRST_AFTER_KILL_MS,
    "every client to receive a quote published after the kill",
  );
  await waitFor(() => /"msg":"NATS reconnected/.test(nodeA.output()), 10_000, "node A to reconnect to another NATS node");
  // A steady feed for a moment on the new topology, then the final values.
  const deliveredAt = Math.max(...firstAfterKill.values());
  await waitFor(() => Date.now() - deliveredAt > 2_000, 10_000, "two more seconds of feed");
  await load.stop();
  const stoppedAt = Date.now();
  const expected = new Map(pub.latest);
  await waitAllHold(clients, expected, 20_000);
  const converged = Date.now() - stoppedAt;
  const gapRead = /"msg":"NATS reconnected[\s\S]*\{([^\n]*)"msg":"read a gap in the live feed/.exec(nodeA.output())?.[1];
  t.ok(converged < CONVERGED_MS, `converged ${converged} ms after the last publish (bound ${CONVERGED_MS})`);

  const reconnect = /"server":"([^"]+)","msg":"NATS reconnected/.exec(nodeA.output());
  t.ok(reconnect && reconnect[1] !== hostPort(cluster.urls[0]!), `node A moved to ${reconnect?.[1]}`);
  t.ok(clients.every((c) => c.attempts.length === 1 && c.streaming), "no client lost its connection: nodes ride out a NATS failure");
  t.equal(clients.reduce((n, c) => n + c.backwards, 0), 0, "no client was ever sent a quote older than one it had");
  t.equal((await fetch(`${nodeA.base}/readyz`)).status, 200, "node A ready again");
  t.equal(metricValue(await nodeA.metrics(), "quotecast_nats_connected"), 1);
  const gaps = (node: Quotecast) =>
    clients.filter((c) => c.ports[0] === node.port).map((c) => firstAfterKill.get(c)! - killedAt);
  const firstAck = pub.ackedAt.find((at) => at > killedAt)! - killedAt;
  const reconnectedAt = Number(/"time":(\d+),[^\n]*"msg":"NATS reconnected/.exec(nodeA.output())?.[1]) - killedAt;
  t.ok(reconnectedAt < RECONNECT_MS, `node A reconnected after ${reconnectedAt} ms (bound ${RECONNECT_MS})`);
  t.ok(Math.max(...gaps(nodeA), ...gaps(nodeB)) < FIRST_AFTER_KILL_MS, `the first post-kill quote reached every client within ${FIRST_AFTER_KILL_MS} ms`);
  t.comment(`NATS node kill: node A reconnected to another NATS node after ${reconnectedAt} ms; JetStream acknowledged the first publish after ${firstAck} ms (${pub.failures} publishes refused meanwhile and retried)`);
  t.comment(`NATS node kill: the first post-kill quote reached node A's clients after ${Math.max(...gaps(nodeA))} ms (slowest client), node B's after ${Math.max(...gaps(nodeB))} ms`);
  t.comment(`NATS node kill: all ${clients.length} clients held exactly the latest quotes ${converged} ms after the last publish`);
  if (gapRead !== undefined) t.comment(`NATS node kill: node A read the gap in its live feed from the stream: ${gapRead}`);
});

t.test("scale-out - the killed NATS node rejoins: a new round of quotes reaches every client of both nodes", { timeout: 60_000 }, async (t) => {
  await cluster.nodes[0]!.restart({ waitForJetStream: true, timeoutMs: 30_000 });
  const roundAt = Date.now();
  await pub.round(SYMBOLS);
  await pub.settle();
  const expected = new Map(pub.latest);
  await waitFor(() => clients.every((x) => x.matches(expected)), CONVERGED_MS, "every client to hold the new round");
  t.comment(`after nats-1 rejoined: a round of ${SYMBOLS.length} quotes reached all ${clients.length} clients within ${Date.now() - roundAt} ms`);
  t.equal(clients.reduce((n, x) => n + x.backwards, 0), 0, "nothing stale");
  t.ok(clients.every((c) => c.attempts.length === 1), "still on their first connection");
});

t.test("scale-out - a third node started late gets a complete first snapshot from JetStream", { timeout: 60_000 }, async (t) => {
  const [n1, n2, n3] = cluster.urls as [string, string, string];
  const startedAt = Date.now();
  const nodeC = await startQuotecast({ nats: [n3, n1, n2].join(","), timeoutMs: 30_000 });
  t.teardown(() => nodeC.stop());
  const readyIn = Date.now() - startedAt;
  t.ok(readyIn < LATE_READY_MS, `ready ${readyIn} ms after its process started (bound ${LATE_READY_MS})`);
  t.match(nodeC.output(), new RegExp(`"server":"${hostPort(n3)}","msg":"connected to NATS"`), "on nats-3, its first choice");
  const c = RawSseClient.open(nodeC.port, `/quotes?symbols=${SYMBOLS.join(",")}`);
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length > 0, 5_000, "the snapshot");
  const snapshot = new Map(c.snapshot().map((q) => [q.sym, q]));
  t.equal(snapshot.size, SYMBOLS.length, "every symbol");
  const epochOf = (node: Quotecast) => RawSseClient.open(node.port, "/quotes?symbols=SO0");
  const other = epochOf(nodeA);
  t.teardown(() => other.close());
  await other.waitFor(() => other.events.length > 0, 5_000, "node A's snapshot");
  t.equal(c.lastId()?.split("-")[0], other.lastId()?.split("-")[0], "the late node's ids name the stream as node A's do");
  const stale = SYMBOLS.filter((s) => snapshot.get(s)?.seq !== pub.latest.get(s)?.seq || snapshot.get(s)?.ts !== pub.latest.get(s)?.ts);
  t.same(stale.map((s) => `${s} ${snapshot.get(s)?.seq}/${pub.latest.get(s)?.seq}`), [], "each at its latest published value");
  const rereads = nodeC.output().match(/behind its leader; reading again/g)?.length ?? 0;
  if (rereads > 0) t.comment(`late node: its first catch-up read a stream replica behind the leader; it read again ${rereads} time(s)`);
  t.comment(`late node: ready ${readyIn} ms after its process started, first snapshot complete (${snapshot.size} symbols)`);
});

t.test("scale-out - killing the QUOTES stream leader (an election): clients converge once a new leader takes quotes", { timeout: 60_000 }, async (t) => {
  const info = await (await jetstreamManager(pub.nc)).streams.info("QUOTES");
  const leader = cluster.nodes.find((n) => n.serverName === info.cluster?.leader);
  t.ok(leader, `the leader is ${info.cluster?.leader}`);
  const load = pub.run(SYMBOLS, 5, 20);
  const before = pub.ackedAt.length;
  const failuresBefore = pub.failures;
  await waitFor(() => pub.ackedAt.length > before + 50, 10_000, "the feed flowing");
  const killedAt = Date.now();
  await leader!.kill();
  await waitFor(() => (pub.ackedAt.at(-1) ?? 0) > killedAt + 1_000, 30_000, "JetStream to take quotes again for a second");
  await load.stop();
  const stoppedAt = Date.now();
  const expected = new Map(pub.latest);
  await waitAllHold(clients, expected, 20_000);
  const around = pub.ackedAt.filter((at) => at >= killedAt - 500);
  const longestGap = Math.max(...around.slice(1).map((at, i) => at - around[i]!));
  const leaderConverged = Date.now() - stoppedAt;
  t.ok(longestGap < ELECTION_GAP_MS, `longest time without a stored quote ${longestGap} ms (bound ${ELECTION_GAP_MS})`);
  t.ok(leaderConverged < CONVERGED_MS, `converged ${leaderConverged} ms after the last publish (bound ${CONVERGED_MS})`);
  t.equal(clients.reduce((n, c) => n + c.backwards, 0), 0, "nothing stale");
  t.ok(clients.every((c) => c.attempts.length === 1 && c.streaming), "no client lost its connection");
  t.comment(`stream leader kill: the longest time without a stored quote was ${longestGap} ms (the election; ${pub.failures - failuresBefore} publishes refused meanwhile and retried); all clients held the latest quotes ${Date.now() - stoppedAt} ms after the last publish`);
});
