/**
 * quotecast/client: subscribe to live quotes from a quotecast server, in browsers and Node 20.
 * No runtime dependency; web-standard APIs only (fetch, ReadableStream, TextDecoder, AbortController).
 */
export { subscribe, type Handlers, type StatusDetail, type SubscribeOptions, type Subscription } from "./subscription.js";
export type { Quote, Status } from "./quote.js";
export { ConnectionError, FrameError, HttpStatusError } from "./errors.js";
export { SseParser, type SseEvent, type SseSink } from "./sse-parser.js";
export { backoffDelay, parseRetryAfter, retryDelay } from "./backoff.js";
