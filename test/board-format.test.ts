import t from "tap";
import { formatChange, formatPercent, formatPrice, median, parseSymbolInput, referencePrice, tickDirection, tickPrice } from "../src/board/format.js";

t.test("board-format - prices with two decimals", async (t) => {
  t.equal(formatPrice(230), "230.00");
  t.equal(formatPrice(1234.5), "1234.50");
  t.equal(formatPrice(0.1), "0.10");
  t.equal(formatPrice(undefined), "–");
  t.equal(formatPrice("1"), "–");
  t.equal(formatPrice(Number.NaN), "–");
});

t.test("board-format - change and change % are signed, zero has no sign", async (t) => {
  t.equal(formatChange(101.5, 100), "+1.50");
  t.equal(formatChange(99.25, 100), "-0.75");
  t.equal(formatChange(100.001, 100), "0.00");
  t.equal(formatChange(100, undefined), "–");
  t.equal(formatPercent(101.5, 100), "+1.50%");
  t.equal(formatPercent(50, 200), "-75.00%");
  t.equal(formatPercent(1, 0), "–");
});

t.test("board-format - tick direction and price", async (t) => {
  t.equal(tickDirection(undefined, 1), 0);
  t.equal(tickDirection(1, 1), 0);
  t.equal(tickDirection(1, 2), 1);
  t.equal(tickDirection(2, 1), -1);
  t.equal(tickPrice({ last: 5, bid: 1, ask: 2 }), 5);
  t.equal(tickPrice({ bid: 1, ask: 2 }), 1.5);
  t.equal(tickPrice({ bid: 1 }), undefined);
});

t.test("board-format - reference: prevClose, else the first last seen", async (t) => {
  t.equal(referencePrice(undefined, { last: 10 }), 10, "first last seen");
  t.equal(referencePrice(10, { last: 12 }), 10, "kept for the session");
  t.equal(referencePrice(10, { last: 12, prevClose: 11 }), 11, "the quote's own wins");
  t.equal(referencePrice(undefined, { bid: 1 } as { last?: unknown }), undefined);
});

t.test("board-format - symbol input", async (t) => {
  t.same(parseSymbolInput(" ibm, brk.b  IBM x! ,,"), { symbols: ["IBM", "BRK.B"], invalid: ["x!"] });
  t.same(parseSymbolInput(""), { symbols: [], invalid: [] });
  t.same(parseSymbolInput("ABCDEFGHIJKLMNOPQ"), { symbols: [], invalid: ["ABCDEFGHIJKLMNOPQ"] }, "17 characters is too long");
});

t.test("board-format - median", async (t) => {
  t.equal(median([]), undefined);
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
});
