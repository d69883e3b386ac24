import { isSymbol } from "../ingest/symbol.js";
import { KNOWN_TICKERS } from "./known-tickers.js";
import { SeededRandom } from "./rng.js";

/** Universe size when neither `--symbols` nor `--symbol-list` is given. */
export const DEFAULT_UNIVERSE_SIZE = 50;

/** Largest `--symbols`: far beyond any demo, small enough to generate in a blink. */
export const MAX_UNIVERSE_SIZE = 10_000;

/**
 * The symbols the demo board shows when none are asked for. They head every generated
 * universe of default size or larger, so `npm start` shows live prices at once.
 */
export { DEFAULT_SYMBOLS } from "../config/default-symbols.js";

// Fixed, not the run's `--seed`: the same `--symbols N` must name the same tickers in every
// run, or a board left open across a feed restart would be subscribed to symbols that vanished.
const NAME_SEED = 0x7ec4e2;

// Letters repeated by how often they start real tickers, so invented ones read like them.
const CONSONANTS = "BBBCCCDDFFGGHJKLLMMMNNPPRRSSSTTVWXZ";
const VOWELS = "AAEEIOOU";
const ONSETS = ["BR", "CH", "CL", "CR", "DR", "FL", "FR", "GL", "GR", "PL", "PR", "SH", "SK", "SN", "SP", "ST", "TH", "TR"];
const CODAS = ["CK", "CT", "LD", "LT", "MP", "ND", "NK", "NT", "NX", "RK", "RN", "RT", "RX", "SK", "ST", "XT"];
// C consonant, V vowel, O onset cluster, K coda cluster: pronounceable shapes of 3-4 letters
// (ZION, KMB, DRIV, ARKT) rather than random strings such as XJQW.
const SHAPES = ["CVC", "VK", "CVK", "OVC", "CVCV", "VCVC", "CVVC"] as const;

/**
 * `count` unique symbols: the real tickers in order of prominence, then generated
 * plausible 3-4 letter ones. A smaller universe is always a prefix of a larger one.
 */
export function generateUniverse(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_UNIVERSE_SIZE) {
    throw new RangeError(`universe size must be an integer in [1, ${MAX_UNIVERSE_SIZE}], got ${count}`);
  }
  const symbols = KNOWN_TICKERS.slice(0, count).map((t) => t.symbol);
  if (symbols.length === count) return symbols;

  const taken = new Set(KNOWN_TICKERS.map((t) => t.symbol));
  const rng = new SeededRandom(NAME_SEED);
  while (symbols.length < count) {
    const name = plausibleTicker(rng);
    if (taken.has(name)) continue;
    taken.add(name);
    symbols.push(name);
  }
  return symbols;
}

function plausibleTicker(rng: SeededRandom): string {
  const shape = SHAPES[rng.int(0, SHAPES.length - 1)]!;
  let name = "";
  for (const part of shape) name += pickFrom(rng, part === "C" ? CONSONANTS : part === "V" ? VOWELS : part === "O" ? ONSETS : CODAS);
  // The alphabet above cannot produce an invalid symbol; this guards a future edit of it.
  if (!isSymbol(name)) throw new Error(`generated ticker ${name} does not match the symbol pattern`);
  return name;
}

function pickFrom(rng: SeededRandom, pool: string | readonly string[]): string {
  return pool[rng.int(0, pool.length - 1)]!;
}
