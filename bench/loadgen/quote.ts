/** ~130 bytes, shaped like the simulator's quotes; prices move a little each time. */
export function quote(sym: string, seq: number, ts: number): string {
  const mid = 100 + ((seq * 7919) % 5000) / 100;
  return `{"sym":"${sym}","ts":${ts},"seq":${seq},"bid":${(mid - 0.01).toFixed(2)},"ask":${(mid + 0.01).toFixed(2)},"bsz":${100 + (seq % 9) * 100},"asz":${200 + (seq % 7) * 100},"last":${mid.toFixed(2)},"vol":${1_000_000 + seq * 13},"ex":"Q"}`;
}
