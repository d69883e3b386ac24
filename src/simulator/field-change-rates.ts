/**
 * How often each field of a feed's quotes changes: for each field, the share of quotes (after
 * a symbol's first) whose value differs from that symbol's previous quote, a field that appears
 * or disappears counting as a change. Bandwidth figures depend on it (a field delta carries only
 * the changed fields), so the bench reports it beside every one of them.
 */
export class FieldChangeRates {
  readonly #last = new Map<string, Record<string, unknown>>();
  readonly #changes = new Map<string, number>();
  #compared = 0;

  /** One quote as published (a JSON object with `sym`). */
  observe(json: string): void {
    const q = JSON.parse(json) as Record<string, unknown>;
    const sym = String(q.sym);
    const prev = this.#last.get(sym);
    this.#last.set(sym, q);
    if (prev === undefined) return;
    this.#compared++;
    for (const k of new Set([...Object.keys(prev), ...Object.keys(q)])) {
      if (JSON.stringify(prev[k]) !== JSON.stringify(q[k])) this.#changes.set(k, (this.#changes.get(k) ?? 0) + 1);
      else if (!this.#changes.has(k)) this.#changes.set(k, 0);
    }
  }

  /** Quotes compared with their symbol's previous one. */
  get compared(): number {
    return this.#compared;
  }

  /** Field → share of compared quotes in which it changed (0..1), in the order fields were first seen. */
  rates(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, n] of this.#changes) out[k] = this.#compared === 0 ? 0 : n / this.#compared;
    return out;
  }
}

/** `ts 100%, seq 100%, bid 31%, …`: rates as a line for logs and reports. */
export function formatChangeRates(rates: Readonly<Record<string, number>>): string {
  return Object.entries(rates)
    .map(([k, r]) => `${k} ${Math.round(100 * r)}%`)
    .join(", ");
}
