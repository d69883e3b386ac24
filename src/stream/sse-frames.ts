/**
 * SSE framing. Pure string builders, asserted byte for byte in test/sse-frames.test.ts.
 * Quote payloads were validated to hold no CR or LF, so each array fits one `data:` line.
 */

/** Sent first on every stream: the browser's reconnect delay, with jitter so reconnects spread. */
export function retryField(ms: number): string {
  return "retry: " + Math.max(0, Math.round(ms)) + "\n\n";
}

/** One event whose data is a JSON array of already-serialized quote objects. */
export function quotesEvent(event: "snapshot" | "quotes", id: string, quotes: readonly string[]): string {
  return "id: " + id + "\nevent: " + event + "\ndata: [" + quotes.join(",") + "]\n\n";
}

/** A comment line: keeps proxies and browsers from timing the stream out while nothing changes. */
export const HEARTBEAT = ":\n\n";
