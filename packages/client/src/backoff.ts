/**
 * Reconnect delays. Pure: randomness comes in as a number in [0, 1).
 *
 * Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay is uniform in
 * [0, min(max, min * 2^attempt)), so clients dropped together by a restart do not come back together.
 * `min` is also a floor, so even a lucky draw never hammers a server in a tight loop.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.max(minMs, Math.floor(random * ceiling));
}

/**
 * The delay before the next attempt: the backoff, but never less than what the server asked for
 * (`Retry-After` on an error answer, the stream's `retry:` field), which are lower bounds.
 */
export function retryDelay(backoffMs: number, serverHintsMs: readonly (number | undefined)[]): number {
  let delay = backoffMs;
  for (const hint of serverHintsMs) if (hint !== undefined && hint > delay) delay = hint;
  return delay;
}

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable. `now` is the client's clock for the date form.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse reads "-1" as a year; an HTTP date always names its weekday and month.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** What to do with an HTTP answer other than 200. */
export type StatusVerdict = "retry" | "retry-with-token" | "fatal";

/**
 * 5xx, 408 and 429 are passing conditions (a restart, a cap, a drain): retry. 401 can be cured by a
 * fresh token, so it retries only when a token callback exists. Other 4xx (400 bad symbols, 403 not
 * entitled, 404 wrong URL) will not change by asking again.
 */
export function statusVerdict(status: number, hasTokenCallback: boolean): StatusVerdict {
  if (status >= 500 || status === 408 || status === 429) return "retry";
  if (status === 401) return hasTokenCallback ? "retry-with-token" : "fatal";
  return "fatal";
}
