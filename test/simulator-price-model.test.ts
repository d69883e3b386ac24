import t from "tap";
import { instrumentsFor } from "../src/simulator/instrument.js";
import { FIELD_MIXES, PriceModel, TRADING_SECONDS_PER_YEAR, createQuoteTick } from "../src/simulator/price-model.js";
import { SeededRandom } from "../src/simulator/rng.js";
import { generateUniverse } from "../src/simulator/universe.js";

for (const mix of FIELD_MIXES) t.test(`simulator - quotes keep their invariants over a long run (${mix} mix)`, async (t) => {
  const symbols = generateUniverse(200);
  const model = new PriceModel(instrumentsFor(symbols), new SeededRandom(1), mix);
  const q = createQuoteTick();
  const seq = new Array<number>(symbols.length).fill(0);
  const vol = new Array<number>(symbols.length).fill(0);
  const problems: string[] = [];
  const rng = new SeededRandom(2);
  for (let k = 0; k < 200_000; k++) {
    const i = rng.int(0, symbols.length - 1);
    model.step(i, k / 1000, q);
    const where = `${symbols[i]} #${k}`;
    if (!(q.bidCents < q.askCents)) problems.push(`${where}: bid ${q.bidCents} >= ask ${q.askCents}`);
    if (!(q.bidCents >= 1)) problems.push(`${where}: bid ${q.bidCents}`);
    if (![q.bidCents, q.askCents, q.lastCents].every(Number.isInteger)) problems.push(`${where}: fractional cents`);
    if (!(q.bsz > 0 && q.asz > 0 && q.bsz % 100 === 0 && q.asz % 100 === 0)) problems.push(`${where}: sizes ${q.bsz}/${q.asz}`);
    // In the market mix a print stays the last while the book moves on without a trade.
    const traded = q.vol !== vol[i]!;
    if ((mix === "every-field" || traded) && !(q.lastCents >= q.bidCents && q.lastCents <= q.askCents)) problems.push(`${where}: last ${q.lastCents} outside the spread`);
    if (!(Number.isInteger(q.vol) && (mix === "every-field" ? q.vol > vol[i]! : q.vol >= vol[i]!))) problems.push(`${where}: vol ${q.vol} after ${vol[i]}`);
    if (q.seq !== seq[i]! + 1) problems.push(`${where}: seq ${q.seq} after ${seq[i]}`);
    vol[i] = q.vol;
    seq[i] = q.seq;
    if (problems.length > 10) break;
  }
  t.same(problems, []);
});

t.test("simulator - a symbol opens at its reference price with seq 1", async (t) => {
  const model = new PriceModel(instrumentsFor(["AAPL", "MSFT"]), new SeededRandom(1));
  const q = createQuoteTick();
  model.step(1, 0, q);
  t.equal(q.seq, 1);
  t.ok(q.bidCents >= 41990 && q.askCents <= 42010, `MSFT opens around $420: ${q.bidCents}/${q.askCents}`);
  t.ok(q.askCents - q.bidCents <= 5, "a liquid name trades a few ticks wide at most");
  model.step(0, 0.001, q);
  t.equal(q.seq, 1, "seq counts per symbol");
  model.step(1, 0.002, q);
  t.equal(q.seq, 2);
});

t.test("simulator - mid prices move with the ticker's volatility", async (t) => {
  // One symbol quoted once per second for a simulated day: the log returns of the quote
  // midpoints should have the per-second volatility 0.55 / sqrt(seconds per year) of TSLA.
  // The every-field mix quotes the model's book each time (the market mix moves one side at a time).
  const model = new PriceModel(instrumentsFor(["TSLA"]), new SeededRandom(4), "every-field");
  const q = createQuoteTick();
  const n = 50_000;
  let prev = Number.NaN;
  let sumSq = 0;
  let count = 0;
  for (let k = 0; k <= n; k++) {
    model.step(0, k, q);
    const mid = (q.bidCents + q.askCents) / 2;
    if (k > 0) {
      const r = Math.log(mid / prev);
      sumSq += r * r;
      count++;
    }
    prev = mid;
  }
  const realised = Math.sqrt(sumSq / count);
  const expected = 0.55 / Math.sqrt(TRADING_SECONDS_PER_YEAR);
  // The tick grid adds a little noise of its own to the quoted mid; the diffusion dominates.
  t.ok(realised > expected * 0.95 && realised < expected * 1.3, `realised ${realised.toExponential(3)} vs ${expected.toExponential(3)}`);
});

t.test("simulator - the same seed and times give the same quotes", async (t) => {
  // Joined into one string: tap's deep comparison of long arrays is slow for no benefit here.
  const run = (seed: number): string => {
    const model = new PriceModel(instrumentsFor(generateUniverse(20)), new SeededRandom(seed));
    const q = createQuoteTick();
    const out: number[] = [];
    for (let k = 0; k < 1000; k++) {
      model.step(k % 20, k * 0.01, q);
      out.push(q.seq, q.bidCents, q.askCents, q.bsz, q.asz, q.lastCents, q.vol);
    }
    return out.join();
  };
  t.equal(run(8), run(8));
  t.not(run(8), run(9));
});
