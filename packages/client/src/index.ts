/**
 * @quotecast/client: live quotes from a quotecast server, in browsers and Node 20. One SSE
 * connection per browser shared by every subscription and tab, and a framework-free reactive store.
 * No runtime dependency; web-standard APIs only (fetch, ReadableStream, TextDecoder, AbortController,
 * and, for sharing between tabs, Web Locks and BroadcastChannel).
 */
export { createClient, type ClientOptions, type QuoteClient, type QuoteListener, type QuoteSubscription } from "./client.js";
export type { QuoteSnapshot, SymbolStore } from "./store.js";
export { subscribe, type ConnectionOptions, type Handlers, type SubscribeOptions, type Subscription } from "./connection.js";
export type { Quote, Status, StatusDetail } from "./quote.js";
export { ConnectionError, FrameError, HttpStatusError, TooManySymbolsError } from "./errors.js";
