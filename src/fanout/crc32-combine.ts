/**
 * CRC-32 arithmetic over GF(2), after zlib's crc32.c (`multmodp`, `x2nmodp`,
 * `crc32_combine_gen`, `crc32_combine_op`). A gzip stream ends with the CRC-32 of everything it
 * carried. A frame shared by many compressed connections has its CRC computed once; each
 * connection then folds it into its own running CRC in 32 steps at most, whatever the frame's
 * length, instead of running the CRC over the frame's bytes again.
 */

const POLY = 0xedb88320;

/** a times b modulo the CRC polynomial (reflected bit order, as zlib). */
function multmodp(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N = new Uint32Array(32);
{
  let p = 0x40000000; // x^1
  X2N[0] = p;
  for (let k = 1; k < 32; k++) X2N[k] = p = multmodp(p, p);
}

/** x^(n * 2^k) modulo the polynomial. */
function x2nmodp(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n !== 0) {
    if ((n & 1) !== 0) p = multmodp(X2N[k & 31]!, p);
    n >>>= 1;
    k++;
  }
  return p;
}

/** The operator that appends `len2` bytes to a CRC (zlib's crc32_combine_gen): compute once per shared frame. */
export function crc32CombineGen(len2: number): number {
  return x2nmodp(len2, 3);
}

/**
 * The CRC-32 of A followed by B, from crc1 (of A), crc2 (of B) and `op = crc32CombineGen(length of B)`
 * (zlib's crc32_combine_op).
 */
export function crc32CombineOp(crc1: number, crc2: number, op: number): number {
  return (multmodp(op, crc1) ^ crc2) >>> 0;
}
