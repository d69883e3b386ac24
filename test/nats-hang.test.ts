// A NATS node that hangs (SIGSTOP: its sockets stay open, nothing answers) is harder than one that
// dies: nobody sees a closed connection. quotecast pings NATS every 3 s, gives up on the
// connection after 2 unanswered pings, and gives a server 3 s to complete the handshake; with the
// client's defaults a node sat on the frozen server for 33 s, with these it leaves after ~10 s
// (docs/faults.md). The bounds below hold the fix to that with room for a loaded machine, and
// fail without it. Measured times are printed as test comments (`# ...`).
import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsCluster } from "./helpers/nats-server.js";
import type { AckedPublisher } from "./helpers/acked-publisher.js";
import { waitFor, type Quotecast } from "./helpers/quotecast.js";
import { startTwoNodes, type TwoNodes } from "./helpers/two-nodes.js";
import { ResumingClient, waitAllHold } from "./helpers/resuming-client.js";

const SYMBOLS = Array.from({ length: 10 }, (_, i) => `NH${i}`);
/** Node A's clients had post-freeze quotes after 10.2-10.9 s; 33 s before the fix. */
const A_FRESH_MS = 20_000;
/** Node B's clients: no gap, or ~6 s when the frozen node led the stream (an election). */
const B_FRESH_MS = 15_000;
/**
 * Every client held the latest quotes within 46 ms of the last publish in the documented runs, but
 * this also failed at 3 s on the code before this bound was added (2 of 5 runs, once "have 3 want
 * 4" on every client): kept at the 15 s it had, which the ping fix does not change.
 */
const CONVERGED_MS = 15_000;

let topology: TwoNodes;
let cluster: NatsCluster;
let pub: AckedPublisher;
let nodeA: Quotecast;
let nodeB: Quotecast;
const clients: ResumingClient[] = [];

t.before(async () => {
  topology = await startTwoNodes();
  ({ cluster, nodeA, nodeB, pub } = topology);
});

t.teardown(async () => {
  const pid = cluster?.nodes[0]?.pid;
  if (pid !== undefined) process.kill(pid, "SIGCONT");
  for (const c of clients) c.close();
  await topology?.stop();
});

t.test("nats hang - a NATS node frozen mid-stream: its quotecast node notices by ping, moves on, and clients converge", { timeout: 60_000 }, async (t) => {
  for (let i = 0; i < 3; i++) {
    clients.push(new ResumingClient([nodeA.port, nodeB.port], SYMBOLS));
    clients.push(new ResumingClient([nodeB.port, nodeA.port], SYMBOLS));
  }
  await waitFor(() => clients.every((c) => c.streaming), 10_000, "every client streaming");
  const load = pub.run(SYMBOLS, 5, 20);
  await waitFor(() => clients.every((c) => c.state.size === SYMBOLS.length), 10_000, "every client to have every symbol");

  const jsInfo = await (await jetstreamManager(pub.nc)).streams.info("QUOTES");
  const leaderFrozen = jsInfo.cluster?.leader === cluster.nodes[0]!.serverName;
  t.match(nodeA.output(), new RegExp(`"server":"${cluster.urls[0]!.replace("nats://", "")}","msg":"connected to NATS"`), "node A is on nats-1, the node about to freeze");
  t.notMatch(nodeA.output(), /"msg":"NATS disconnected"/, "and has not left it");
  const frozenAt = Date.now();
  process.kill(cluster.nodes[0]!.pid!, "SIGSTOP");
  const onA = clients.filter((c) => c.ports[0] === nodeA.port);
  const onB = clients.filter((c) => c.ports[0] === nodeB.port);
  const fresh = (cs: ResumingClient[], after: number) => cs.every((c) => [...c.state.values()].some((q) => q.ts > after));
  // Quotes published after the freeze (and stored, once JetStream has a leader that is not frozen).
  await waitFor(() => fresh(onB, frozenAt), B_FRESH_MS, "node B's clients to get quotes published after the freeze");
  const bFresh = Date.now() - frozenAt;
  await waitFor(() => fresh(onA, frozenAt), A_FRESH_MS, "node A's clients (on the frozen NATS node) to get quotes published after the freeze");
  const aFresh = Date.now() - frozenAt;
  await load.stop();
  const stoppedAt = Date.now();
  const expected = new Map(pub.latest);
  const log = (q: Quotecast) => q.output().split("\n").filter((l) => /NATS|catch|reading|recreated/.test(l)).slice(-8).join("\n");
  await waitAllHold(clients, expected, CONVERGED_MS, () => `node A:\n${log(nodeA)}\nnode B:\n${log(nodeB)}`);
  t.match(nodeA.output(), /"msg":"NATS reconnected/, "node A left the frozen node for another");
  t.ok(clients.every((c) => c.attempts.length === 1), "no client lost its connection");
  t.equal(clients.reduce((n, c) => n + c.backwards, 0), 0, "nothing stale");
  t.comment(`NATS node frozen (SIGSTOP; it ${leaderFrozen ? "led" : "did not lead"} the stream): node B's clients had post-freeze quotes after ${bFresh} ms, node A's (on the frozen node) after ${aFresh} ms; all clients held the latest quotes ${Date.now() - stoppedAt} ms after the last publish`);
});
