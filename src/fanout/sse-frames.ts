/**
 * SSE framing. Pure string builders, asserted byte for byte in test/sse-frames.test.ts.
 * Quote payloads were validated to hold no CR or LF, so each array fits one `data:` line.
 */

/** Sent first on every stream: the browser's reconnect delay, with jitter so reconnects spread. */
export function retryField(ms: number): string {
  return "retry: " + Math.max(0, Math.round(ms)) + "\n\n";
}

/** `delta` events carry field deltas (GET /quotes?delta=1; see delta-encoding.ts). */
export type QuotesEventName = "snapshot" | "quotes" | "delta";

/** One event whose data is a JSON array of already-serialized quote objects. */
export function quotesEvent(event: QuotesEventName, id: string, quotes: readonly string[]): string {
  return quotesEventHead(event, id) + quotes.join(",") + QUOTES_EVENT_TAIL;
}

/** A quotes event up to its array's opening bracket; the quotes, comma-separated, and the tail follow. */
export function quotesEventHead(event: QuotesEventName, id: string): string {
  return "id: " + id + "\nevent: " + event + "\ndata: [";
}

/** What closes a quotes event: the array's bracket and the blank line. */
export const QUOTES_EVENT_TAIL = "]\n\n";

/** A comment line: keeps proxies and browsers from timing the stream out while nothing changes. */
export const HEARTBEAT = ":\n\n";
