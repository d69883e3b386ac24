import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { skipN } from "pure-rand/utils/skipN";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/** Largest seed accepted: xoroshiro128plus folds its seed to 32 bits, so larger ones would collide. */
export const MAX_SEED = 0xffff_ffff;

/**
 * The simulator's only source of randomness, so that one seed reproduces a whole run.
 * A thin, mutable wrapper over pure-rand's xoroshiro128+ (fast, 2^128 period).
 */
export class SeededRandom {
  readonly #gen: RandomGenerator;
  // Box-Muller yields normals in pairs; keeping the second one halves the cost per draw.
  #spareNormal = 0;
  #hasSpare = false;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}], got ${seed}`);
    }
    this.#gen = xoroshiro128plus(seed);
    // Seeds such as 0 or 1 leave the state mostly zero bits: the first outputs are poor until it mixes.
    skipN(this.#gen, 32);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.#gen);
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return uniformInt(this.#gen, min, max);
  }

  /** Standard normal N(0, 1). */
  normal(): number {
    if (this.#hasSpare) {
      this.#hasSpare = false;
      return this.#spareNormal;
    }
    // 1 - u keeps the logarithm's argument in (0, 1]: log(0) would give an infinite price jump.
    const r = Math.sqrt(-2 * Math.log(1 - this.float()));
    const theta = 2 * Math.PI * this.float();
    this.#spareNormal = r * Math.sin(theta);
    this.#hasSpare = true;
    return r * Math.cos(theta);
  }
}

/**
 * A 32-bit FNV-1a hash: gives a stable per-symbol seed, so a symbol that is not in the
 * reference table still starts at the same price whatever else is in the universe.
 */
export function hashSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
