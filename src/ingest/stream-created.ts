import type { StreamInfo } from "@nats-io/jetstream";

/**
 * The stream's creation time could not be read as a real time after every re-read: the stream
 * stayed half-created (or the server answers nonsense). The caller retries from the start.
 */
export class StreamCreationTimeError extends Error {
  override name = "StreamCreationTimeError";
  constructor(readonly created: string | undefined, attempts: number) {
    super(`the quote stream's creation time is still ${JSON.stringify(created)} after ${attempts} reads; it is not fully created yet`);
  }
}

/**
 * A creation time in milliseconds, or null when it is not a real one. nats-server 2.9.10 answers
 * `streams.info()` with Go's zero time, `0001-01-01T00:00:00Z` (negative milliseconds), to a
 * client that asks while another one is still creating the stream; event ids built from it
 * match no other worker's, and none of its own once the real time shows.
 */
export function realCreatedMs(created: string | undefined): number | null {
  if (created === undefined || created === "") return null;
  const ms = Date.parse(created);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** How often and how long `stableCreated` re-reads: up to 50 times, 100 ms apart (5 s in all). */
export const CREATED_REREADS = 50;
export const CREATED_REREAD_MS = 100;

/**
 * The stream's info once two reads in a row give the same, real creation time. Besides the zero
 * time above, on a three-node NATS cluster the answer to `streams.add` once carried a creation
 * time 14 ms off what every `streams.info` said afterwards (the create had been proposed twice):
 * an epoch taken from it would be this worker's alone. So `first` (whatever the caller had) is
 * never taken as is; re-reads follow until one agrees with the read before it. Bounded: after
 * `attempts` re-reads it throws StreamCreationTimeError, and the caller's retry starts over.
 */
export async function stableCreated(
  first: StreamInfo,
  reread: () => Promise<StreamInfo>,
  attempts = CREATED_REREADS,
  delayMs = CREATED_REREAD_MS,
): Promise<StreamInfo> {
  let previous = first;
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const current = await reread();
    const ms = realCreatedMs(current.created);
    if (ms !== null && ms === realCreatedMs(previous.created)) return current;
    previous = current;
  }
  throw new StreamCreationTimeError(previous.created, attempts);
}
