// A NATS node that hangs (SIGSTOP: its sockets stay open, nothing answers) is harder than one that
// dies: nobody sees a closed connection. quotecast pings NATS every 5 s and gives up on the
// connection after 2 unanswered pings. Measured times are printed as test comments (`# ...`).
import t from "tap";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsCluster } from "./helpers/nats-server.js";
import type { AckedPublisher } from "./helpers/acked-publisher.js";
import { waitFor, type Quotecast } from "./helpers/quotecast.js";
import { startTwoNodes, type TwoNodes } from "./helpers/two-nodes.js";
import { ResumingClient } from "./helpers/resuming-client.js";

const SYMBOLS = Array.from({ length: 10 }, (_, i) => `NH${i}`);

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
  await waitFor(() => fresh(onB, frozenAt), 30_000, "node B's clients to get quotes published after the freeze");
  const bFresh = Date.now() - frozenAt;
  await waitFor(() => fresh(onA, frozenAt), 40_000, "node A's clients to get quotes published after the freeze");
  const aFresh = Date.now() - frozenAt;
  await load.stop();
  const stoppedAt = Date.now();
  const expected = new Map(pub.latest);
  await waitFor(() => clients.every((c) => c.matches(expected)), 15_000, "every client to hold the latest quotes").catch((err: Error) => {
    throw new Error(`${err.message}: ${clients.map((c) => c.diff(expected).join(" ")).filter(Boolean).join(" | ")}`);
  });
  t.match(nodeA.output(), /"msg":"NATS reconnected/, "node A left the frozen node for another");
  t.ok(clients.every((c) => c.attempts.length === 1), "no client lost its connection");
  t.equal(clients.reduce((n, c) => n + c.backwards, 0), 0, "nothing stale");
  t.comment(`NATS node frozen (SIGSTOP; it ${leaderFrozen ? "led" : "did not lead"} the stream): node B's clients had post-freeze quotes after ${bFresh} ms, node A's (on the frozen node) after ${aFresh} ms; all clients held the latest quotes ${Date.now() - stoppedAt} ms after the last publish`);
});
