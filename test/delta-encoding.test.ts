import { isDeepStrictEqual } from "node:util";
import t from "tap";
import fc from "fast-check";
import { encodeDelta, encodeReplacement } from "../src/fanout/delta-encoding.js";
import { deltaHead, FrameBuilder } from "../src/fanout/frame-builder.js";
import { parseQuoteFields, type QuoteFields } from "../src/fanout/quote-fields.js";
import { HISTORY_VERSIONS, SymbolHistory } from "../src/fanout/symbol-history.js";

const fields = (json: string, prev: QuoteFields | null = null): QuoteFields => parseQuoteFields(Buffer.from(json), prev)!;
const delta = (from: string, to: string): string => encodeDelta(fields(from), fields(to)).toString();

const Q1 = '{"sym":"AAPL","ts":1700000000000,"seq":1,"bid":189.5,"ask":189.52,"bsz":300,"asz":200,"last":189.51,"vol":1000}';
const Q2 = '{"sym":"AAPL","ts":1700000000050,"seq":2,"bid":189.49,"ask":189.52,"bsz":500,"asz":200,"last":189.51,"vol":1000}';

/** What a client does: Object.assign, and null deletes. */
function merge(state: Record<string, unknown>, d: Record<string, unknown>): Record<string, unknown> {
  const out = { ...state };
  for (const [k, v] of Object.entries(d)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

t.test("delta-encoding - sym first, then the fields whose text changed, in the quote's order", async (t) => {
  t.equal(delta(Q1, Q2), '{"sym":"AAPL","ts":1700000000050,"seq":2,"bid":189.49,"bsz":500}');
});

t.test("delta-encoding - a field that disappeared is null; one that appeared is sent", async (t) => {
  t.equal(delta('{"sym":"X","seq":1,"halt":true,"bid":1}', '{"sym":"X","seq":2,"bid":1,"note":"a\\"b"}'), '{"sym":"X","seq":2,"note":"a\\"b","halt":null}');
});

t.test("delta-encoding - keys and values keep the feed's text; nested values compare as text", async (t) => {
  t.equal(delta('{"sym":"X", "seq": 1, "book": {"b":[1,2]}, "é":1}', '{"sym":"X","seq":2,"book":{"b":[1,2]},"é":2}'), '{"sym":"X","seq":2,"é":2}', "same nested text: not sent");
  t.equal(delta('{"sym":"X","seq":1,"v":1.0}', '{"sym":"X","seq":2,"v":1}'), '{"sym":"X","seq":2,"v":1}', "1.0 and 1 differ as text: sent (harmless)");
  t.equal(delta('{"sym":"X","seq":1,"\\u0061":1}', '{"sym":"X","seq":2,"a":1}'), '{"sym":"X","seq":2}', "an escaped key is the same key");
});

t.test("delta-encoding - unchanged quote: only sym", async (t) => {
  t.equal(delta(Q1, Q1), '{"sym":"AAPL"}');
});

t.test("delta-encoding - a key named twice counts once, with its last value", async (t) => {
  t.same(fields('{"sym":"X","a":1,"a":2}').keys, ["sym", "a"]);
  t.equal(delta('{"sym":"X","a":1,"a":2}', '{"sym":"X","a":2}'), '{"sym":"X"}');
});

t.test("delta-encoding - a replacement object nulls every key the symbol ever had that the latest lacks", async (t) => {
  t.equal(encodeReplacement(fields('{"sym":"X","seq":3,"bid":1}'), new Set(["sym", "seq", "bid", "halt", "a\"b"])).toString(), '{"sym":"X","seq":3,"bid":1,"halt":null,"a\\"b":null}');
  t.equal(encodeReplacement(fields(Q2), new Set(Object.keys(JSON.parse(Q2) as object))).toString(), Q2, "no vanished key: the quote as published");
});

t.test("delta-encoding - versions of one shape share their keys array", async (t) => {
  const a = fields(Q1);
  const b = fields(Q2, a);
  t.equal(b.keys, a.keys);
  t.not(fields('{"sym":"AAPL","x":1}', a).keys, a.keys);
});

t.test("delta-encoding - the exact bytes of a delta event", async (t) => {
  const h = new SymbolHistory();
  h.sent(Buffer.from(Q1), 3);
  h.sent(Buffer.from(Q2), 7);
  const b = new FrameBuilder();
  b.begin(deltaHead("lvnsv0k5-18"));
  b.add(h.deltaAfter(5));
  t.equal(b.finish().toString(), 'id: lvnsv0k5-18\nevent: delta\ndata: [{"sym":"AAPL","ts":1700000000050,"seq":2,"bid":189.49,"bsz":500}]\n\n');
  t.equal(h.nextChange, 7, "a member that has seen up to 6 holds the same base");
});

t.test("delta-encoding - history: the base is the version current at the change number given", async (t) => {
  const h = new SymbolHistory();
  h.sent(Buffer.from('{"sym":"X","seq":1,"a":1}'), 2);
  h.sent(Buffer.from('{"sym":"X","seq":2,"a":1,"b":1}'), 4);
  h.sent(Buffer.from('{"sym":"X","seq":3,"b":2}'), 9);
  t.equal(h.deltaAfter(3).toString(), '{"sym":"X","seq":3,"b":2,"a":null}', "from the version at 2");
  t.equal(h.nextChange, 4);
  t.equal(h.deltaAfter(5).toString(), '{"sym":"X","seq":3,"b":2,"a":null}', "from the version at 4");
  t.equal(h.nextChange, 9);
  t.equal(h.deltaAfter(3), h.deltaAfter(2), "the same base shares the same bytes");
  t.equal(h.deltaAfter(1).toString(), '{"sym":"X","seq":3,"b":2,"a":null}', "a base older than any kept: a replacement object");
  t.equal(h.nextChange, Infinity, "which suits every member");
  for (let i = 0; i < HISTORY_VERSIONS; i++) h.sent(Buffer.from(`{"sym":"X","seq":${4 + i},"b":2}`), 10 + i);
  t.equal(h.deltaAfter(9).toString(), `{"sym":"X","seq":${3 + HISTORY_VERSIONS},"b":2,"a":null}`, "evicted base: every key the symbol ever had is accounted for");
});

t.test("delta-encoding - merging any delta over its base gives the latest quote", async (t) => {
  const value = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }));
  const quote = fc.dictionary(fc.constantFrom("a", "b", "c", "é", 'q"', "ts", "seq"), value, { maxKeys: 6 }).map((d) => ({ sym: "X", ...d }));
  fc.assert(
    fc.property(quote, quote, (from, to) => {
      const d = JSON.parse(delta(JSON.stringify(from), JSON.stringify(to))) as Record<string, unknown>;
      // A field whose value is null is a field the client cannot hold after a merge: the feed's
      // nulls are sent as changes and delete, so the model of the latest quote drops them too.
      // As the client reads them: JSON text (-0 reads back as 0).
      const wire = (q: object) => Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(q)) as object).filter(([, v]) => v !== null));
      const want = wire(to);
      const base = wire(from);
      return isDeepStrictEqual(merge(base, d), want);
    }),
    { numRuns: 300, seed: Number(process.env.QC_FC_SEED ?? 20261206) },
  );
  t.pass("300 random pairs merged to the latest quote");
});
