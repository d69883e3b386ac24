import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

/** The server name of the QUOTES stream's leader, as the stream's info gives it. */
export async function streamLeader(nc: NatsConnection): Promise<string | undefined> {
  const info = await (await jetstreamManager(nc)).streams.info("QUOTES");
  return info.cluster?.leader;
}

/**
 * Ask the QUOTES stream leader to step down until the leader is not `avoid`: a test that kills
 * `avoid` then measures a node's own recovery, not a stream election (NATS elects with randomized
 * timeouts of several seconds, longer on a split vote).
 */
export async function moveStreamLeaderOff(nc: NatsConnection, avoid: string): Promise<string> {
  for (let i = 0; i < 10; i++) {
    const leader = await streamLeader(nc).catch(() => undefined);
    if (leader !== undefined && leader !== avoid) return leader;
    if (leader === avoid) await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.QUOTES", undefined, { timeout: 5_000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`the QUOTES stream leader stayed on ${avoid}`);
}
