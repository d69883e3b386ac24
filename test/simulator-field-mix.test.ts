import t from "tap";
import { FieldChangeRates, formatChangeRates } from "../src/simulator/field-change-rates.js";
import { QuoteGenerator } from "../src/simulator/quote-generator.js";
import { generateUniverse } from "../src/simulator/universe.js";

/** Change rates of `n` quotes of the generator's feed on `symbols` (20, as a watchlist). */
function ratesOf(mix: "market" | "every-field", n = 20_000): Record<string, number> {
  const gen = new QuoteGenerator(generateUniverse(20), 1000, 42, mix);
  const rates = new FieldChangeRates();
  for (let k = 0; k < n; k++) gen.emit(1, 1_700_000_000_000 + k, (_subject, payload) => rates.observe(payload));
  return rates.rates();
}

t.test("field-change-rates - counts a change, an appearance and a disappearance, per symbol", async (t) => {
  const r = new FieldChangeRates();
  r.observe('{"sym":"A","seq":1,"bid":1,"x":1}');
  r.observe('{"sym":"B","seq":1,"bid":5}');
  r.observe('{"sym":"A","seq":2,"bid":1}');
  r.observe('{"sym":"B","seq":2,"bid":5,"y":true}');
  t.equal(r.compared, 2, "a symbol's first quote is compared with nothing");
  t.same(r.rates(), { sym: 0, seq: 1, bid: 0, x: 0.5, y: 0.5 });
  t.equal(formatChangeRates(r.rates()), "sym 0%, seq 100%, bid 0%, x 50%, y 50%");
});

t.test("simulator - the market mix moves one side of the book or prints a trade", async (t) => {
  const r = ratesOf("market");
  t.equal(r.ts, 1, "ts every quote");
  t.equal(r.seq, 1, "seq every quote");
  t.ok(r.bsz! > 0.3 && r.bsz! < 0.55, `bsz ${r.bsz} (bid-side updates, and trades that hit the bid)`);
  t.ok(r.asz! > 0.3 && r.asz! < 0.55, `asz ${r.asz}`);
  t.ok(r.bid! > 0.1 && r.bid! < 0.35, `bid ${r.bid}: half the bid-side updates move the price`);
  t.ok(r.ask! > 0.1 && r.ask! < 0.35, `ask ${r.ask}`);
  t.ok(r.vol! > 0.15 && r.vol! < 0.25, `vol ${r.vol}: trades only`);
  t.ok(r.last! < r.vol!, `last ${r.last}: a trade at the same price leaves it`);
});

t.test("simulator - every-field keeps the old feed, where nearly everything changes", async (t) => {
  const r = ratesOf("every-field");
  t.equal(r.vol, 1);
  t.ok(r.bsz! > 0.85 && r.asz! > 0.85, `bsz ${r.bsz}, asz ${r.asz}`);
  t.ok(r.last! > 0.6, `last ${r.last}`);
});

t.test("simulator - the market mix never crosses the book and keeps whole lots", async (t) => {
  const gen = new QuoteGenerator(generateUniverse(50), 5000, 7);
  const problems: string[] = [];
  gen.emit(20_000, 0, (_s, payload) => {
    const q = JSON.parse(payload) as { bid: number; ask: number; bsz: number; asz: number; last: number };
    if (!(q.bid > 0 && q.bid < q.ask)) problems.push(`crossed: ${payload}`);
    if (q.bsz % 100 !== 0 || q.asz % 100 !== 0 || q.bsz <= 0 || q.asz <= 0) problems.push(`sizes: ${payload}`);
  });
  t.same(problems.slice(0, 3), []);
});
