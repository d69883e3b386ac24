/** `count` symbols that match the contract's pattern, the same in every run. */
export function benchSymbols(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `BN${String(i).padStart(4, "0")}`);
}
