import t from "tap";
import fc from "fast-check";
import { FrameBuilder, quotesHead } from "../src/fanout/frame-builder.js";
import { quotesEvent } from "../src/fanout/sse-frames.js";

const AAPL = '{"sym":"AAPL","ts":1700000000000,"seq":1,"bid":189.5}';
const MSFT = '{"sym":"MSFT","ts":1700000000001,"seq":2,"bid":411.25}';

function build(b: FrameBuilder, id: string, quotes: readonly string[]): string {
  b.begin(quotesHead(id));
  for (const q of quotes) b.add(Buffer.from(q));
  return b.finish().toString();
}

t.test("frame-builder - the exact bytes of a quotes event", async (t) => {
  const b = new FrameBuilder();
  t.equal(build(b, "lvnsv0k5-17", [AAPL, MSFT]), `id: lvnsv0k5-17\nevent: quotes\ndata: [${AAPL},${MSFT}]\n\n`);
  t.equal(build(b, "lvnsv0k5-18", [MSFT]), `id: lvnsv0k5-18\nevent: quotes\ndata: [${MSFT}]\n\n`, "nothing of the longer frame before it is left");
  t.equal(b.count, 1);
});

t.test("frame-builder - frames of the same length are the same view, rewritten", async (t) => {
  const b = new FrameBuilder();
  b.begin(quotesHead("e-1"));
  b.add(Buffer.from('{"s":"A"}'));
  const first = b.finish();
  b.begin(quotesHead("e-2"));
  b.add(Buffer.from('{"s":"B"}'));
  const second = b.finish();
  t.equal(first, second, "no allocation for a frame length seen before");
  t.equal(second.toString(), 'id: e-2\nevent: quotes\ndata: [{"s":"B"}]\n\n');
});

t.test("frame-builder - grows past its first buffer and keeps every byte", async (t) => {
  const b = new FrameBuilder(16);
  const quotes = Array.from({ length: 500 }, (_, i) => JSON.stringify({ sym: `S${i}`, ts: i, seq: i, note: "é€" }));
  t.equal(build(b, "e-9", quotes), quotesEvent("quotes", "e-9", quotes));
  t.equal(build(b, "e-10", [AAPL]), quotesEvent("quotes", "e-10", [AAPL]), "and builds small frames after growing");
});

t.test("frame-builder - the same bytes as quotesEvent for any quotes and id", async (t) => {
  const b = new FrameBuilder(64);
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.array(fc.json({ maxDepth: 2 }), { maxLength: 30 }), (id, quotes) => {
      return build(b, id, quotes) === quotesEvent("quotes", id, quotes);
    }),
    { numRuns: 500 },
  );
  t.pass("500 random frames matched");
});
