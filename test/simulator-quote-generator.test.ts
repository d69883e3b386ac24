import t from "tap";
import { SYMBOL_PATTERN } from "../src/ingest/symbol.js";
import { QuoteGenerator } from "../src/simulator/quote-generator.js";
import { generateUniverse } from "../src/simulator/universe.js";

interface Published {
  subject: string;
  payload: string;
}

function collect(gen: QuoteGenerator, n: number, ts: number | ((k: number) => number)): Published[] {
  const out: Published[] = [];
  const sink = (subject: string, payload: string): void => void out.push({ subject, payload });
  // Several emit calls, as the pacer makes them, with a different ts each.
  for (let k = 0; k < n; k += 100) gen.emit(Math.min(100, n - k), typeof ts === "number" ? ts : ts(k), sink);
  return out;
}

const withoutTs = (p: Published): string => p.subject + " " + p.payload.replace(/"ts":\d+,/, "");

t.test("simulator - the same seed gives the same 1000 quotes, only ts differs", async (t) => {
  const symbols = generateUniverse(50);
  const a = collect(new QuoteGenerator(symbols, 1000, 123), 1000, 1_700_000_000_000);
  const b = collect(new QuoteGenerator(symbols, 1000, 123), 1000, (k) => 1_800_000_000_000 + k);
  t.equal(a.length, 1000);
  t.not(a.map((p) => p.payload).join("\n"), b.map((p) => p.payload).join("\n"), "ts differs");
  t.equal(a.map(withoutTs).join("\n"), b.map(withoutTs).join("\n"));
  const c = collect(new QuoteGenerator(symbols, 1000, 124), 1000, 1_700_000_000_000);
  t.not(a.map(withoutTs).join("\n"), c.map(withoutTs).join("\n"), "another seed, other prices");
});

t.test("simulator - every payload is a valid quote on its own subject", async (t) => {
  const gen = new QuoteGenerator(generateUniverse(100), 1000, 5);
  const published = collect(gen, 20_000, 1_700_000_000_000);
  t.equal(gen.count, 20_000);
  const lastSeq = new Map<string, number>();
  const lastVol = new Map<string, number>();
  const problems: string[] = [];
  for (const { subject, payload } of published) {
    if (/[\r\n]/.test(payload)) problems.push(`line break in ${payload}`);
    const q = JSON.parse(payload) as Record<string, number | string>;
    const sym = q.sym as string;
    if (Object.keys(q).join() !== "sym,ts,seq,bid,ask,bsz,asz,last,vol") problems.push(`keys of ${payload}`);
    if (subject !== `quotes.${sym}` || !SYMBOL_PATTERN.test(sym)) problems.push(`subject ${subject} for ${sym}`);
    if (q.ts !== 1_700_000_000_000) problems.push(`ts of ${payload}`);
    if (q.seq !== (lastSeq.get(sym) ?? 0) + 1) problems.push(`seq of ${payload}`);
    if (!((q.bid as number) < (q.ask as number))) problems.push(`bid/ask of ${payload}`);
    // Volume never falls; it grows with each trade, and (market mix) only with trades.
    if (!((q.vol as number) >= (lastVol.get(sym) ?? 1))) problems.push(`vol of ${payload}`);
    for (const k of ["bid", "ask", "last"]) {
      if (!/^\d+(\.\d{1,2})?$/.test(String(q[k]))) problems.push(`${k} of ${payload}`);
    }
    lastSeq.set(sym, q.seq as number);
    lastVol.set(sym, q.vol as number);
    if (problems.length > 10) break;
  }
  t.same(problems, []);
});

t.test("simulator - every symbol opens in order, then popular ones tick more", async (t) => {
  const symbols = generateUniverse(500);
  const gen = new QuoteGenerator(symbols, 1000, 77);
  const published = collect(gen, 50_000, 0);
  t.same(published.slice(0, 500).map((p) => p.subject), symbols.map((s) => `quotes.${s}`), "opening round");
  const counts = new Map<string, number>();
  for (const p of published.slice(500)) counts.set(p.subject, (counts.get(p.subject) ?? 0) + 1);
  t.equal(counts.size, 500, "every symbol ticks after the opening round too");
  const aapl = counts.get("quotes.AAPL")!;
  const last = counts.get(`quotes.${symbols[499]}`)!;
  t.ok(aapl > 20 * last, `AAPL ${aapl} vs ${symbols[499]} ${last}`);
  t.ok(last >= 10, `the least popular still ticks (${last} times)`);
});

t.test("simulator - BRK.B is published on quotes.BRK.B", async (t) => {
  const published = collect(new QuoteGenerator(["BRK.B"], 10, 1), 1, 1);
  t.equal(published[0]!.subject, "quotes.BRK.B");
  t.match(published[0]!.payload, /^\{"sym":"BRK\.B","ts":1,"seq":1,/);
});

t.test("simulator - a generator needs symbols and a positive rate", async (t) => {
  t.throws(() => new QuoteGenerator([], 10, 1), RangeError);
  t.throws(() => new QuoteGenerator(["AAPL"], 0, 1), RangeError);
  t.throws(() => new QuoteGenerator(["AAPL"], Number.NaN, 1), RangeError);
});
