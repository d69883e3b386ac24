// The QUOTES stream for an ingest run, created before any server or publisher starts, with the
// storage the run asks for. quotecast finds it and follows it (src/ingest/quote-stream.ts creates
// it the same way, with file storage, when missing).

import type { NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";

export type StreamStorage = "file" | "memory";

export async function createBenchStream(nc: NatsConnection, storage: StreamStorage): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "QUOTES",
    subjects: ["quotes.>"],
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    storage: storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: 1,
    allow_direct: true,
    republish: { src: "quotes.>", dest: "qc.live.quotes.>" },
  });
}
