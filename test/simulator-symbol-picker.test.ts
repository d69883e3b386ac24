import t from "tap";
import { SeededRandom } from "../src/simulator/rng.js";
import { WeightedPicker, popularityWeights } from "../src/simulator/symbol-picker.js";

t.test("simulator - popularity falls with rank but never below a quarter of an even share", async (t) => {
  for (const n of [1, 7, 50, 500, 10_000]) {
    const w = popularityWeights(n);
    t.equal(w.length, n);
    t.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-9, `n=${n} sums to 1`);
    t.ok(w.every((x, i) => i === 0 || x < w[i - 1]!), `n=${n} strictly decreasing`);
    t.ok(Math.min(...w) >= 0.25 / n, `n=${n} floor`);
  }
  t.same(popularityWeights(1), [1]);
});

t.test("simulator - the picker draws in proportion to the weights", async (t) => {
  const weights = [5, 0, 1, 3, 1];
  const picker = new WeightedPicker(weights);
  const rng = new SeededRandom(3);
  const counts = [0, 0, 0, 0, 0];
  const n = 200_000;
  for (let i = 0; i < n; i++) counts[picker.pick(rng)]!++;
  t.equal(counts[1], 0, "a zero weight is never drawn");
  for (const [i, w] of weights.entries()) {
    const expected = (n * w) / 10;
    // Within 1.5 % of the draws: several standard deviations at this sample size.
    t.ok(Math.abs(counts[i]! - expected) < 0.015 * n, `index ${i}: ${counts[i]} vs ${expected}`);
  }
});

t.test("simulator - the picker is deterministic for a seed", async (t) => {
  const picker = new WeightedPicker(popularityWeights(50));
  const draw = (seed: number): number[] => {
    const rng = new SeededRandom(seed);
    return Array.from({ length: 500 }, () => picker.pick(rng));
  };
  t.same(draw(9), draw(9));
  t.notSame(draw(9), draw(10));
  t.ok(draw(9).every((i) => Number.isInteger(i) && i >= 0 && i < 50));
});

t.test("simulator - the picker refuses weights it cannot use", async (t) => {
  t.throws(() => new WeightedPicker([]), RangeError);
  t.throws(() => new WeightedPicker([0, 0]), RangeError);
  t.throws(() => new WeightedPicker([1, -1]), RangeError);
  t.throws(() => new WeightedPicker([1, Number.NaN]), RangeError);
  t.throws(() => new WeightedPicker([1, Number.POSITIVE_INFINITY]), RangeError);
});
