import t from "tap";
import { MAX_SEED, SeededRandom, hashSeed } from "../src/simulator/rng.js";

function floats(seed: number, n: number): number[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => rng.float());
}

t.test("simulator - the same seed replays the same random sequence", async (t) => {
  t.same(floats(42, 1000), floats(42, 1000));
  t.notSame(floats(42, 10), floats(43, 10));
  t.notSame(floats(0, 10), floats(1, 10), "small seeds still give distinct streams");
});

t.test("simulator - uniform draws stay in range", async (t) => {
  const rng = new SeededRandom(7);
  let min = 1;
  let max = 0;
  const seen = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    const f = rng.float();
    min = Math.min(min, f);
    max = Math.max(max, f);
    const k = rng.int(3, 9);
    seen.add(k);
  }
  t.ok(min >= 0 && min < 0.001, `min ${min}`);
  t.ok(max < 1 && max > 0.999, `max ${max}`);
  t.same([...seen].sort(), [3, 4, 5, 6, 7, 8, 9], "int covers both bounds and nothing else");
});

t.test("simulator - normal draws are standard normal", async (t) => {
  const rng = new SeededRandom(11);
  const n = 200_000;
  let sum = 0;
  let sumSq = 0;
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const z = rng.normal();
    if (!Number.isFinite(z)) nonFinite++;
    sum += z;
    sumSq += z * z;
  }
  t.equal(nonFinite, 0, "never infinite or NaN");
  const mean = sum / n;
  const variance = sumSq / n - mean * mean;
  // Standard errors: 1/sqrt(n) = 0.0022 for the mean, about 0.003 for the variance.
  t.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  t.ok(Math.abs(variance - 1) < 0.015, `variance ${variance}`);
});

t.test("simulator - seeds outside 32 bits are refused", async (t) => {
  for (const bad of [-1, 1.5, MAX_SEED + 1, Number.NaN]) {
    t.throws(() => new SeededRandom(bad), RangeError, String(bad));
  }
  t.doesNotThrow(() => new SeededRandom(MAX_SEED));
  t.equal(MAX_SEED, 4294967295);
});

t.test("simulator - symbol hash is 32-bit FNV-1a", async (t) => {
  t.equal(hashSeed(""), 0x811c9dc5);
  t.equal(hashSeed("a"), 0xe40c292c);
  t.equal(hashSeed("foobar"), 0xbf9cf968);
});
