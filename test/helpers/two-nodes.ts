import { AckedPublisher } from "./acked-publisher.js";
import { startNatsCluster, type NatsCluster } from "./nats-server.js";
import { startQuotecast, type Quotecast } from "./quotecast.js";

/**
 * The scale-out tests' topology: three clustered NATS nodes; quotecast node A on nats-1 first and
 * node B on nats-2 first, each listing every NATS node as scripts/local-cluster and deploy/ do;
 * and a JetStream publisher on nats-3 first.
 */
export interface TwoNodes {
  readonly cluster: NatsCluster;
  readonly nodeA: Quotecast;
  readonly nodeB: Quotecast;
  readonly pub: AckedPublisher;
  /** Stop the nodes, the publisher and the cluster. */
  stop(): Promise<void>;
}

export async function startTwoNodes(args: readonly string[] = []): Promise<TwoNodes> {
  const cluster = await startNatsCluster(3);
  const [n1, n2, n3] = cluster.urls as [string, string, string];
  const started: Quotecast[] = [];
  let pub: AckedPublisher | undefined;
  const stop = async () => {
    await Promise.all(started.map((q) => q.stop()));
    await pub?.close().catch(() => undefined);
    await cluster.cleanup();
  };
  try {
    // Both nodes and the publisher start at once, as a deployment's would: whichever node comes
    // first creates the stream, and the other finds it (or races it, as ensureQuoteStream allows).
    const [a, b, p] = await Promise.allSettled([
      startQuotecast({ nats: [n1, n2, n3].join(","), args, timeoutMs: 30_000 }),
      startQuotecast({ nats: [n2, n3, n1].join(","), args, timeoutMs: 30_000 }),
      AckedPublisher.connect([n3, n2, n1]),
    ]);
    for (const r of [a, b]) if (r.status === "fulfilled") started.push(r.value);
    if (p.status === "fulfilled") pub = p.value;
    for (const r of [a, b, p]) if (r.status === "rejected") throw r.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return { cluster, nodeA: started[0]!, nodeB: started[1]!, pub: pub!, stop };
}
