import type { Instrument } from "./instrument.js";
import type { SeededRandom } from "./rng.js";

/** Seconds of trading in a year (252 sessions of 6.5 h): converts annual volatility to per-second. */
export const TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600;

/** US equities quote in whole cents above $1. */
export const TICK_CENTS = 1;

const LOT = 100;

/**
 * One quote's numbers, written in place by `PriceModel.step` so that the hot path allocates
 * nothing. Prices are integer cents: rounding happens once, here, and the payload never shows
 * float artefacts such as 187.12000000000001.
 */
export interface QuoteTick {
  seq: number;
  bidCents: number;
  askCents: number;
  bsz: number;
  asz: number;
  lastCents: number;
  vol: number;
}

export function createQuoteTick(): QuoteTick {
  return { seq: 0, bidCents: 0, askCents: 0, bsz: 0, asz: 0, lastCents: 0, vol: 0 };
}

/**
 * Which fields a quote moves.
 * - `market` (the default): as a top-of-book feed does, each update is one event: the bid side
 *   moves (bid and bsz, or bsz alone), the ask side moves (ask and asz), or a trade prints
 *   (last and vol, and the size it took off the side it hit). `ts` and `seq` move every time.
 * - `every-field`: every quote re-draws the whole book and carries a trade (the simulator's
 *   behaviour before the mix was modelled, kept for comparison: nearly every field changes).
 */
export type FieldMix = "market" | "every-field";
export const FIELD_MIXES: readonly FieldMix[] = ["market", "every-field"];

/** Shares of the market mix's events: the rest are trades. */
const BID_SIDE_SHARE = 0.4;
const ASK_SIDE_SHARE = 0.4;

/**
 * Mid prices follow geometric Brownian motion (no drift: minutes of tape, not years), the
 * top of book sits a whole number of ticks around the mid, and every quote carries a trade
 * so `vol` grows with each one. State is kept in typed arrays, one slot per symbol.
 */
export class PriceModel {
  readonly #mid: Float64Array;
  readonly #sigmaPerSqrtSecond: Float64Array;
  readonly #spreadFraction: Float64Array;
  readonly #depthLots: Float64Array;
  readonly #lastTime: Float64Array;
  readonly #seq: Float64Array;
  readonly #volume: Float64Array;
  /** The book each symbol last quoted (market mix): an update moves one side of it. */
  readonly #bookBid: Float64Array;
  readonly #bookAsk: Float64Array;
  readonly #bookBsz: Float64Array;
  readonly #bookAsz: Float64Array;
  readonly #bookLast: Float64Array;

  constructor(
    instruments: readonly Instrument[],
    private readonly rng: SeededRandom,
    private readonly mix: FieldMix = "market",
  ) {
    const n = instruments.length;
    this.#mid = Float64Array.from(instruments, (x) => x.price);
    this.#sigmaPerSqrtSecond = Float64Array.from(instruments, (x) => x.volatility / Math.sqrt(TRADING_SECONDS_PER_YEAR));
    this.#spreadFraction = Float64Array.from(instruments, (x) => x.spreadBps / 10_000);
    this.#depthLots = Float64Array.from(instruments, (x) => x.depthLots);
    this.#lastTime = new Float64Array(n).fill(Number.NaN);
    this.#seq = new Float64Array(n);
    this.#volume = new Float64Array(n);
    this.#bookBid = new Float64Array(n);
    this.#bookAsk = new Float64Array(n);
    this.#bookBsz = new Float64Array(n);
    this.#bookAsz = new Float64Array(n);
    this.#bookLast = new Float64Array(n);
  }

  get size(): number {
    return this.#mid.length;
  }

  /**
   * Move symbol `i` to model time `t` (seconds since the run began) and write its next quote.
   * Time is the schedule's, not the wall clock's, so one seed always gives the same prices.
   */
  step(i: number, t: number, out: QuoteTick): void {
    const rng = this.rng;
    const prev = this.#lastTime[i]!;
    const dt = prev === prev ? t - prev : 0; // NaN before the first quote: open at the reference price
    this.#lastTime[i] = t;

    let mid = this.#mid[i]!;
    if (dt > 0) {
      const sigma = this.#sigmaPerSqrtSecond[i]!;
      // Exact GBM step; the -σ²/2 term keeps the expected price flat rather than drifting up.
      mid *= Math.exp(-0.5 * sigma * sigma * dt + sigma * Math.sqrt(dt) * rng.normal());
      // A penny stock must not round to a zero bid.
      if (mid < 0.05) mid = 0.05;
      this.#mid[i] = mid;
    }

    const midCents = mid * 100;
    const baseTicks = Math.max(1, Math.round((midCents * this.#spreadFraction[i]!) / TICK_CENTS));
    // Mostly at its usual width, sometimes a tick or a few wider, as the book thins and refills.
    const u = rng.float();
    const spreadTicks = baseTicks + (u < 0.6 ? 0 : u < 0.85 ? 1 : u < 0.95 ? 2 : 3);
    const spreadCents = spreadTicks * TICK_CENTS;
    const bidCents = Math.max(TICK_CENTS, Math.round(midCents - spreadCents / 2));
    const askCents = bidCents + spreadCents;

    const depth = this.#depthLots[i]!;
    out.bsz = this.#lots(depth) * LOT;
    out.asz = this.#lots(depth) * LOT;

    // Prints land on the bid or the ask (someone crossed the spread), occasionally inside it.
    const side = rng.float();
    out.lastCents = side < 0.45 ? bidCents : side < 0.9 ? askCents : rng.int(bidCents, askCents);
    // Odd lots are a fifth of real prints; the rest are round lots.
    const tradeSize = rng.float() < 0.2 ? rng.int(1, LOT - 1) : this.#lots(depth / 2) * LOT;
    const vol = this.#volume[i]! + tradeSize;
    this.#volume[i] = vol;

    const seq = this.#seq[i]! + 1;
    this.#seq[i] = seq;

    out.seq = seq;
    out.bidCents = bidCents;
    out.askCents = askCents;
    out.vol = vol;
    if (this.mix === "market") this.#oneEvent(i, prev === prev, tradeSize, out);
  }

  /**
   * Market mix: of the book just drawn into `out`, keep one event's worth and put back the rest
   * of the symbol's last quote. A symbol's first quote is the whole book.
   */
  #oneEvent(i: number, quotedBefore: boolean, tradeSize: number, out: QuoteTick): void {
    if (quotedBefore) {
      const u = this.rng.float();
      const bid = this.#bookBid[i]!;
      const ask = this.#bookAsk[i]!;
      if (u < BID_SIDE_SHARE) {
        // The bid moves (or only its size); the ask stays, so keep the book uncrossed.
        out.askCents = ask;
        out.asz = this.#bookAsz[i]!;
        if (out.bidCents >= ask) out.bidCents = ask - TICK_CENTS;
        if (this.rng.float() < 0.5) out.bidCents = bid;
        out.lastCents = this.#bookLast[i]!;
        out.vol = this.#volume[i] = out.vol - tradeSize;
      } else if (u < BID_SIDE_SHARE + ASK_SIDE_SHARE) {
        out.bidCents = bid;
        out.bsz = this.#bookBsz[i]!;
        if (out.askCents <= bid) out.askCents = bid + TICK_CENTS;
        if (this.rng.float() < 0.5) out.askCents = ask;
        out.lastCents = this.#bookLast[i]!;
        out.vol = this.#volume[i] = out.vol - tradeSize;
      } else {
        // A trade at the last book's bid or ask (or inside it) takes size off the side it hit.
        out.bidCents = bid;
        out.askCents = ask;
        out.bsz = this.#bookBsz[i]!;
        out.asz = this.#bookAsz[i]!;
        const side = out.lastCents <= bid ? 0 : out.lastCents >= ask ? 1 : 2;
        out.lastCents = side === 0 ? bid : side === 1 ? ask : Math.min(ask, Math.max(bid, out.lastCents));
        if (side === 0 && out.bsz > LOT) out.bsz -= LOT;
        if (side === 1 && out.asz > LOT) out.asz -= LOT;
      }
    }
    this.#bookBid[i] = out.bidCents;
    this.#bookAsk[i] = out.askCents;
    this.#bookBsz[i] = out.bsz;
    this.#bookAsz[i] = out.asz;
    this.#bookLast[i] = out.lastCents;
  }

  /** A positive lot count, exponentially distributed around `mean`, capped at 20 times it. */
  #lots(mean: number): number {
    const x = Math.round(-Math.log(1 - this.rng.float()) * mean);
    return Math.min(Math.max(1, x), Math.max(1, Math.round(mean * 20)));
  }
}
