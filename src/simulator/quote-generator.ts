import { subjectFor } from "../ingest/symbol.js";
import { instrumentsFor } from "./instrument.js";
import { PriceModel, createQuoteTick, type FieldMix, type QuoteTick } from "./price-model.js";
import { formatQuote, payloadPrefix } from "./quote-payload.js";
import { SeededRandom } from "./rng.js";
import { WeightedPicker, popularityWeights } from "./symbol-picker.js";

/** Receives each quote; made once per run, so the hot path allocates no closure per quote. */
export type QuoteSink = (subject: string, payload: string) => void;

/**
 * The whole deterministic quote sequence of a run: which symbol ticks next, its new prices,
 * and the payload. Given the same symbols, rate and seed it produces the same quotes in the
 * same order; only `ts`, the wall-clock publish time passed in, differs between runs.
 */
export class QuoteGenerator {
  readonly symbols: readonly string[];
  readonly subjects: readonly string[];
  readonly #prefixes: readonly string[];
  readonly #picker: WeightedPicker;
  readonly #model: PriceModel;
  readonly #rng: SeededRandom;
  readonly #tick: QuoteTick = createQuoteTick();
  readonly #secondsPerQuote: number;
  #issued = 0;

  /**
   * @param rate quotes per second of the whole feed: it sets how much model time passes per quote.
   * @param mix which fields a quote moves (default `market`: one side of the book, or a trade).
   */
  constructor(symbols: readonly string[], rate: number, seed: number, mix: FieldMix = "market") {
    if (symbols.length === 0) throw new RangeError("a feed needs at least one symbol");
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number, got ${rate}`);
    this.symbols = symbols;
    this.subjects = symbols.map(subjectFor);
    this.#prefixes = symbols.map(payloadPrefix);
    this.#rng = new SeededRandom(seed);
    this.#picker = new WeightedPicker(popularityWeights(symbols.length));
    this.#model = new PriceModel(instrumentsFor(symbols), this.#rng, mix);
    this.#secondsPerQuote = 1 / rate;
  }

  /** Quotes produced so far. */
  get count(): number {
    return this.#issued;
  }

  /** Produce the next `n` quotes, all stamped `ts`, handing each to `sink`. */
  emit(n: number, ts: number, sink: QuoteSink): void {
    const symbolCount = this.symbols.length;
    for (let k = 0; k < n; k++) {
      const index = this.#issued++;
      // The opening round quotes every symbol once, so the last-value stream has a snapshot
      // for each of them as early as the rate allows; popularity decides after that.
      const i = index < symbolCount ? index : this.#picker.pick(this.#rng);
      this.#model.step(i, index * this.#secondsPerQuote, this.#tick);
      sink(this.subjects[i]!, formatQuote(this.#prefixes[i]!, ts, this.#tick));
    }
  }
}
