// Node failover as a frontend lives it: clients of the SDK (@quotecast/client) given both nodes' URLs,
// while one node is killed (SIGKILL, no goodbye) and later the other is drained (SIGTERM).
// Measured times are printed as test comments (`# ...`).
import t from "tap";
import { subscribe, type Quote, type Subscription } from "@quotecast/client";
import type { NatsCluster } from "./helpers/nats-server.js";
import type { AckedPublisher } from "./helpers/acked-publisher.js";
import { startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";
import { startTwoNodes, type TwoNodes } from "./helpers/two-nodes.js";

const SYMBOLS = Array.from({ length: 20 }, (_, i) => `FO${i}`);
/** Symbols still published during the drain: a resumed snapshot may hold these only. */
const DURING_DRAIN = SYMBOLS.slice(0, 5);
const CLIENTS = 10;
const DRAIN_MS = 2_000;

interface Watched {
  readonly sub: Subscription;
  /** Quotes older than one already shown for the symbol. */
  backwards: number;
  /** Every snapshot received: when, and which symbols it held. */
  readonly snapshots: { at: number; syms: string[] }[];
}

let topology: TwoNodes;
let cluster: NatsCluster;
let pub: AckedPublisher;
let nodeA: Quotecast;
let nodeB: Quotecast;

t.before(async () => {
  topology = await startTwoNodes(["--drain-ms", String(DRAIN_MS)]);
  ({ cluster, nodeA, nodeB, pub } = topology);
});

t.teardown(async () => {
  // nodeA is the node restarted mid-test, not the topology's first one.
  await Promise.all([nodeA?.stop(), topology?.stop()]);
});

function watch(urls: string[]): Watched {
  const shown = new Map<string, number>();
  const w: Watched = {
    backwards: 0,
    snapshots: [],
    sub: subscribe(
      urls,
      SYMBOLS,
      {
        onQuotes(quotes: readonly Quote[], kind) {
          if (kind === "snapshot") w.snapshots.push({ at: Date.now(), syms: quotes.map((q) => q.sym) });
          for (const q of quotes) {
            if ((shown.get(q.sym) ?? 0) > q.seq) w.backwards++;
            shown.set(q.sym, q.seq);
          }
        },
      },
      { minBackoffMs: 100, maxBackoffMs: 1_000 },
    ),
  };
  return w;
}

const holds = (w: Watched, expected: ReadonlyMap<string, Quote>): boolean =>
  w.sub.quotes.size === SYMBOLS.length && SYMBOLS.every((s) => w.sub.quotes.get(s)?.seq === expected.get(s)?.seq && w.sub.quotes.get(s)?.ts === expected.get(s)?.ts);

const diff = (ws: Watched[], expected: ReadonlyMap<string, Quote>): string =>
  ws
    .flatMap((w, i) => SYMBOLS.filter((s) => w.sub.quotes.get(s)?.seq !== expected.get(s)?.seq).map((s) => `client ${i} ${s}: ${w.sub.quotes.get(s)?.seq} != ${expected.get(s)?.seq}`))
    .slice(0, 10)
    .join("; ");

/** SIGKILL the node's primary and workers at once: the machine is gone, nobody says goodbye. */
function crash(node: Quotecast): void {
  for (const pid of [...node.workerPids(), node.child.pid!]) process.kill(pid, "SIGKILL");
}

t.test("failover - SDK clients survive one node killed and the other drained, resume across nodes, end with exactly the latest quotes", { timeout: 60_000 }, async (t) => {
  const clients = Array.from({ length: CLIENTS }, (_, i) => watch(i % 2 === 0 ? [nodeA.base, nodeB.base] : [nodeB.base, nodeA.base]));
  t.teardown(() => clients.forEach((w) => w.sub.close()));
  await waitFor(() => clients.every((w) => w.sub.status === "live"), 10_000, "every client live");

  // 1. Node A crashes mid-stream.
  let load = pub.run(SYMBOLS, 5, 20);
  await waitFor(() => clients.every((w) => w.sub.quotes.size === SYMBOLS.length), 10_000, "every client to have every symbol");
  const portA = nodeA.port;
  const killedAt = Date.now();
  crash(nodeA);
  await nodeA.exited;
  await waitFor(() => clients.every((w) => w.sub.status === "live" && w.sub.url === nodeB.base), 15_000, "every client live on node B");
  const movedIn = Date.now() - killedAt;
  await load.stop();
  let expected = new Map(pub.latest);
  await waitFor(() => clients.every((w) => holds(w, expected)), 10_000, "every client to hold the latest quotes on node B").catch((err: Error) => {
    throw new Error(`${err.message}: ${diff(clients, expected)}`);
  });
  const convergedAfterKill = Date.now() - killedAt;
  t.pass("after the crash every client is live on node B with exactly the latest quotes");

  // 2. Node A comes back where the clients look for it; node B is drained (a rolling deploy).
  nodeA = await startQuotecast({ nats: cluster.urls.join(","), port: portA, args: ["--drain-ms", String(DRAIN_MS)], timeoutMs: 30_000 });
  load = pub.run(DURING_DRAIN, 5, 20);
  const drainAt = Date.now();
  const exitCode = nodeB.stop();
  await waitFor(() => clients.every((w) => w.sub.status === "live" && w.sub.url === nodeA.base), 15_000, "every client live on node A");
  const movedBackIn = Date.now() - drainAt;
  t.equal(await exitCode, 0, "the drained node exits 0");
  await load.stop();
  const stoppedAt = Date.now();
  expected = new Map(pub.latest);
  await waitFor(() => clients.every((w) => holds(w, expected)), 10_000, "every client to hold the latest quotes on node A").catch((err: Error) => {
    throw new Error(`${err.message}: ${diff(clients, expected)}`);
  });
  const convergedAfterDrain = Date.now() - stoppedAt;

  // Resumed, not reloaded: node A answered the ids node B had given with only what changed since.
  const resumed = clients.map((w) => w.snapshots.filter((s) => s.at > drainAt));
  t.ok(resumed.every((s) => s.length >= 1), "every client got a snapshot from node A after the drain");
  t.ok(resumed.flat().every((s) => s.syms.every((sym) => DURING_DRAIN.includes(sym))), "each held only symbols that changed after the client's last id from node B");
  t.equal(clients.reduce((n, w) => n + w.backwards, 0), 0, "no client was ever shown a quote older than one it had");
  t.ok(clients.every((w) => holds(w, expected)), "every client ends with exactly the latest value of every symbol");
  t.comment(`node SIGKILL: all ${CLIENTS} clients live on the other node ${movedIn} ms after the kill, holding the latest quotes ${convergedAfterKill} ms after it`);
  t.comment(`node drain (--drain-ms ${DRAIN_MS}): all clients live on the restarted node ${movedBackIn} ms after SIGTERM; latest quotes held ${convergedAfterDrain} ms after the last publish`);
});
