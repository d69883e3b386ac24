/**
 * SSE event ids that mean the same thing on every worker and every node of a deployment.
 *
 * An id is `<epoch>-<seq>`: `seq` is the JetStream stream sequence up to which this worker had
 * applied quotes when it built the event, and `epoch` identifies the stream itself (its creation
 * time, base 36), so that an id from a deleted-and-recreated stream, whose sequences restarted, is
 * recognised as unknown instead of being compared with numbers it has nothing to do with.
 * Every worker reads the same stream, so "changed after id X" is simply "latest sequence > X".
 */
export interface EventPosition {
  readonly epoch: string;
  readonly seq: number;
}

const ID_PATTERN = /^([0-9a-z]{1,16})-(\d{1,16})$/;

export function formatEventId(epoch: string, seq: number): string {
  return epoch + "-" + seq;
}

/** Parse a client-supplied id; null when it is not one of ours (the client then gets a full snapshot). */
export function parseEventId(id: string): EventPosition | null {
  const m = ID_PATTERN.exec(id);
  if (!m) return null;
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { epoch: m[1]!, seq };
}

/**
 * The stream sequence after which a resuming client needs changes, or null for a full snapshot:
 * ids that are malformed or come from another stream epoch are unknown.
 */
export function resumeAfter(id: string | undefined, epoch: string): number | null {
  if (!id) return null;
  const pos = parseEventId(id);
  if (!pos || pos.epoch !== epoch) return null;
  return pos.seq;
}
