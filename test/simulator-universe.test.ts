import t from "tap";
import { isSymbol } from "../src/ingest/symbol.js";
import { instrumentsFor } from "../src/simulator/instrument.js";
import { KNOWN_TICKERS, knownTicker } from "../src/simulator/known-tickers.js";
import { DEFAULT_SYMBOLS, DEFAULT_UNIVERSE_SIZE, MAX_UNIVERSE_SIZE, generateUniverse } from "../src/simulator/universe.js";

const HEAD = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "BRK.B"];

t.test("simulator - the default board symbols are the best-known tickers", async (t) => {
  t.same(DEFAULT_SYMBOLS, [...HEAD, "NFLX", "AMD"]);
  const universe = generateUniverse(DEFAULT_UNIVERSE_SIZE);
  t.same(universe.slice(0, DEFAULT_SYMBOLS.length), DEFAULT_SYMBOLS, "the default universe starts with them");
});

t.test("simulator - --symbols 500 gives 500 unique valid symbols, real ones first", async (t) => {
  const universe = generateUniverse(500);
  t.equal(universe.length, 500);
  t.equal(new Set(universe).size, 500, "unique");
  t.same(universe.filter((s) => !isSymbol(s)), [], "all match SYMBOL_PATTERN");
  t.same(universe.slice(0, HEAD.length), HEAD);
  t.same(universe.slice(0, KNOWN_TICKERS.length), KNOWN_TICKERS.map((k) => k.symbol), "every real ticker before any invented one");
  const invented = universe.slice(KNOWN_TICKERS.length);
  t.same(invented.filter((s) => !/^[A-Z]{3,4}$/.test(s)), [], "invented tickers are 3-4 letters");
});

t.test("simulator - universe size is a prefix property and stable across calls", async (t) => {
  t.same(generateUniverse(3), ["AAPL", "MSFT", "GOOG"]);
  t.same(generateUniverse(1), ["AAPL"]);
  const big = generateUniverse(800);
  t.same(generateUniverse(200), big.slice(0, 200));
  t.same(generateUniverse(800), big);
});

t.test("simulator - the largest universe is still unique and valid", async (t) => {
  const universe = generateUniverse(MAX_UNIVERSE_SIZE);
  t.equal(new Set(universe).size, MAX_UNIVERSE_SIZE);
  t.equal(universe.filter((s) => !isSymbol(s)).length, 0);
  for (const bad of [0, -1, 1.5, MAX_UNIVERSE_SIZE + 1]) {
    t.throws(() => generateUniverse(bad), RangeError, String(bad));
  }
});

t.test("simulator - the real-ticker table is well formed", async (t) => {
  const symbols = KNOWN_TICKERS.map((k) => k.symbol);
  t.equal(new Set(symbols).size, symbols.length, "no duplicates");
  t.same(symbols.filter((s) => !isSymbol(s)), []);
  t.same(KNOWN_TICKERS.filter((k) => !(k.price > 1 && k.price < 5000 && k.volatility > 0.05 && k.volatility < 1.5)), []);
  t.ok(KNOWN_TICKERS.length >= 100, "enough real names for a 100-symbol board");
  t.equal(knownTicker("BRK.B")?.price, 460);
  t.equal(knownTicker("NOPE"), undefined);
});

t.test("simulator - instruments take reference prices, invented ones a stable plausible one", async (t) => {
  const [aapl, zork, brk] = instrumentsFor(["AAPL", "ZORK", "BRK.B"]);
  t.equal(aapl!.price, 230);
  t.equal(aapl!.volatility, 0.25);
  t.equal(brk!.price, 460);
  t.ok(zork!.price >= 5 && zork!.price <= 400, `invented price ${zork!.price}`);
  t.ok(zork!.volatility >= 0.2 && zork!.volatility <= 0.7);
  t.ok(Number.isInteger(zork!.depthLots) && zork!.depthLots >= 2);
  const [, , zorkAgain] = instrumentsFor(["MSFT", "TSLA", "ZORK"]);
  t.equal(zorkAgain!.price, zork!.price, "an invented ticker's price does not depend on its neighbours");
  t.ok(aapl!.spreadBps < instrumentsFor(generateUniverse(90))[89]!.spreadBps, "the most watched trade tightest");
});
