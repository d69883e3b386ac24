/**
 * The symbols the demo board shows when none are asked for: the best-known US tickers. A leaf,
 * so the server gets them without loading the simulator. The simulator's default universe starts
 * with them (its known-tickers table has them first; test/simulator-universe.test.ts checks it),
 * so `npm start` shows live prices at once.
 */
export const DEFAULT_SYMBOLS: readonly string[] = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "BRK.B", "NFLX", "AMD"];
