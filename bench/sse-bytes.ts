// Where the bytes of an SSE capture go: per quote object (a full quote or a delta) of the update
// events, the `id:` / `event:` / `data:` lines, the braces, each field and the commas; and, for
// a delta stream, whether any field sent equals the value the stream had already delivered (it
// replays the merge). The snapshot is merged but not counted. Captures come from curl:
//
//   curl -sN --max-time 6 -o full.txt  'http://127.0.0.1:PORT/quotes?symbols=BN0000,BN0010,...'
//   curl -sN --max-time 6 -o delta.txt 'http://127.0.0.1:PORT/quotes?symbols=BN0000,BN0010,...&delta=1'
//   npx tsc -p tsconfig.bench.json && node build/bench/bench/sse-bytes.js full.txt delta.txt
//
// (quotecast serve --workers 1 plus the bench publisher at 2,000 quotes/s on 200 symbols, as in
// docs/deltas.md, "Where a delta's bytes go".)

import { readFileSync } from "node:fs";

type Quote = Record<string, unknown>;

export interface Accounting {
  events: number;
  objects: number;
  total: number;
  /** Bytes per part, summed over the update events. */
  parts: Record<string, number>;
  /** Fields besides sym sent per object, by name (a count). */
  present: Record<string, number>;
  /** Fields sent whose value equals what the stream had delivered for the symbol. */
  redundant: number;
}

/** Account for every byte of the update events of one SSE body. */
export function account(text: string): Accounting {
  const a: Accounting = { events: 0, objects: 0, total: 0, parts: {}, present: {}, redundant: 0 };
  const add = (k: string, n: number) => (a.parts[k] = (a.parts[k] ?? 0) + n);
  const state = new Map<string, Quote>();
  for (const ev of text.split("\n\n")) {
    const lines = ev.split("\n");
    const data = lines.find((l) => l.startsWith("data: "));
    if (data === undefined) continue;
    const update = lines.includes("event: quotes") || lines.includes("event: delta");
    const objects = JSON.parse(data.slice(6)) as Quote[];
    if (update) {
      a.events++;
      a.objects += objects.length;
      a.total += ev.length + 2;
      for (const l of lines) {
        if (l.startsWith("id: ")) add("id line", l.length + 1);
        else if (l.startsWith("event: ")) add("event line", l.length + 1);
      }
      // `data: `, the two newlines that end the event, the array's brackets and the commas between objects.
      add("data: [ ] , and newlines", 6 + 2 + 2 + (objects.length - 1));
    }
    for (const o of objects) {
      const held = state.get(String(o.sym));
      if (update) {
        add("{ }", 2);
        const keys = Object.keys(o);
        add("commas between fields", keys.length - 1);
        for (const k of keys) {
          add(k, JSON.stringify(k).length + 1 + JSON.stringify(o[k]).length);
          if (k === "sym") continue;
          a.present[k] = (a.present[k] ?? 0) + 1;
          if (held !== undefined && held[k] === o[k]) a.redundant++;
        }
      }
      state.set(String(o.sym), Object.assign(held ?? {}, o));
    }
  }
  return a;
}

function main(): void {
  for (const file of process.argv.slice(2)) {
    const a = account(readFileSync(file, "latin1"));
    const per = (n: number) => (n / a.objects).toFixed(1);
    process.stdout.write(`${file}: ${a.events} update events, ${a.objects} objects (${(a.objects / a.events).toFixed(2)} per event), ${per(a.total)} B per object\n`);
    for (const [k, n] of Object.entries(a.parts)) process.stdout.write(`  ${k.padEnd(26)} ${per(n).padStart(6)} B per object  ${((100 * n) / a.total).toFixed(1)}%\n`);
    const fields = Object.entries(a.present).map(([k, n]) => `${k} ${((100 * n) / a.objects).toFixed(0)}%`);
    process.stdout.write(`  fields present: ${fields.join(", ")}; sent though unchanged: ${a.redundant}\n`);
  }
}

if (process.argv[1]?.endsWith("sse-bytes.js")) main();
