import { knownTicker } from "./known-tickers.js";
import { SeededRandom, hashSeed } from "./rng.js";

/** How one symbol behaves in the simulation: fixed for the whole run. */
export interface Instrument {
  readonly symbol: string;
  /** Starting mid price in dollars. */
  readonly price: number;
  /** Annualised volatility of the mid price. */
  readonly volatility: number;
  /** Typical bid/ask spread in basis points of the price; never less than one tick. */
  readonly spreadBps: number;
  /** Mean displayed size per side, in round lots of 100 shares. */
  readonly depthLots: number;
}

/**
 * Profiles for a universe, in its order. Real tickers take their reference price and
 * volatility; the liquidity of every symbol falls with its rank, as attention does.
 */
export function instrumentsFor(symbols: readonly string[]): Instrument[] {
  return symbols.map((symbol, rank) => instrumentFor(symbol, rank));
}

function instrumentFor(symbol: string, rank: number): Instrument {
  const known = knownTicker(symbol);
  if (known) {
    return {
      symbol,
      price: known.price,
      volatility: known.volatility,
      // The most watched names trade one tick wide; interest and tightness fade down the list.
      spreadBps: 0.4 + Math.min(rank, 200) * 0.05,
      depthLots: Math.max(3, 12 - Math.floor(rank / 10)),
    };
  }
  // Seeded by the name, not by the run: an invented ticker keeps its price level across
  // restarts and whatever else is in the list, as a real one would.
  const rng = new SeededRandom(hashSeed(symbol));
  return {
    symbol,
    // Log-uniform between $5 and $400: most listed stocks sit in that band, skewed low.
    price: Math.exp(Math.log(5) + rng.float() * (Math.log(400) - Math.log(5))),
    volatility: 0.2 + rng.float() * 0.5,
    spreadBps: 3 + rng.float() * 17,
    depthLots: rng.int(2, 8),
  };
}
