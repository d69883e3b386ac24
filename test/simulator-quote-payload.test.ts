import t from "tap";
import { createQuoteTick } from "../src/simulator/price-model.js";
import { formatCents, formatQuote, payloadPrefix } from "../src/simulator/quote-payload.js";

t.test("simulator - a quote is one line of JSON, keys in the contract's order", async (t) => {
  const q = createQuoteTick();
  Object.assign(q, { seq: 1, bidCents: 18712, askCents: 18714, bsz: 300, asz: 500, lastCents: 18710, vol: 1234 });
  const payload = formatQuote(payloadPrefix("AAPL"), 1700000000000, q);
  t.equal(payload, '{"sym":"AAPL","ts":1700000000000,"seq":1,"bid":187.12,"ask":187.14,"bsz":300,"asz":500,"last":187.1,"vol":1234}');
  t.same(JSON.parse(payload), { sym: "AAPL", ts: 1700000000000, seq: 1, bid: 187.12, ask: 187.14, bsz: 300, asz: 500, last: 187.1, vol: 1234 });
  t.equal(formatQuote(payloadPrefix("BRK.B"), 1, q).slice(0, 26), '{"sym":"BRK.B","ts":1,"seq');
});

t.test("simulator - cents print with at most two decimals and no float artefacts", async (t) => {
  t.equal(formatCents(1), "0.01");
  t.equal(formatCents(7), "0.07");
  t.equal(formatCents(10), "0.1");
  t.equal(formatCents(100), "1");
  t.equal(formatCents(18710), "187.1");
  t.equal(formatCents(18712), "187.12");
  t.equal(formatCents(99999999), "999999.99");
  // Every price from $0.01 to $20,000: the text is the two-decimal value, exactly.
  const bad: number[] = [];
  for (let c = 1; c <= 2_000_000; c++) {
    const s = formatCents(c);
    const whole = Math.floor(c / 100);
    const frac = c % 100;
    const expected = frac === 0 ? `${whole}` : frac % 10 === 0 ? `${whole}.${frac / 10}` : `${whole}.${String(frac).padStart(2, "0")}`;
    if (s !== expected) bad.push(c);
  }
  t.same(bad, []);
});
