import t from "tap";
import { LastValues } from "../src/ingest/last-values.js";

const q = (sym: string, n: number) => `{"sym":"${sym}","ts":${1700000000000 + n},"seq":${n}}`;

t.test("last-values - apply stores the quote and get returns it", async (t) => {
  const lv = new LastValues();
  t.equal(lv.get("AAPL"), undefined, "nothing before the first quote");
  t.equal(lv.size, 0);
  const entry = lv.apply("AAPL", q("AAPL", 1), 10, 1700000000001);
  t.same(entry, { sym: "AAPL", json: q("AAPL", 1), bytes: Buffer.from(q("AAPL", 1)), streamSeq: 10, ts: 1700000000001 }, "with its JSON encoded once");
  t.equal(lv.get("AAPL"), entry, "get returns the same entry");
  t.equal(lv.size, 1);
});

t.test("last-values - a newer stream seq replaces the value in place", async (t) => {
  const lv = new LastValues();
  const first = lv.apply("AAPL", q("AAPL", 1), 10, 1);
  const second = lv.apply("AAPL", q("AAPL", 2), 11, 2);
  t.equal(second, first, "the entry object is reused");
  t.same(lv.get("AAPL"), { sym: "AAPL", json: q("AAPL", 2), bytes: Buffer.from(q("AAPL", 2)), streamSeq: 11, ts: 2 });
  t.equal(lv.size, 1);
});

t.test("last-values - an older or equal stream seq is ignored", async (t) => {
  const lv = new LastValues();
  lv.apply("AAPL", q("AAPL", 5), 50, 5);
  t.equal(lv.apply("AAPL", q("AAPL", 4), 40, 4), undefined, "older");
  t.equal(lv.apply("AAPL", q("AAPL", 6), 50, 6), undefined, "same stream seq (redelivery)");
  t.same(lv.get("AAPL"), { sym: "AAPL", json: q("AAPL", 5), bytes: Buffer.from(q("AAPL", 5)), streamSeq: 50, ts: 5 }, "value kept");
  t.equal(lv.highWater, 50);
});

t.test("last-values - highWater is the highest stream seq seen, incl. advanceTo", async (t) => {
  const lv = new LastValues();
  t.equal(lv.highWater, 0);
  lv.apply("AAPL", q("AAPL", 1), 3, 1);
  t.equal(lv.highWater, 3);
  lv.apply("MSFT", q("MSFT", 1), 7, 1);
  t.equal(lv.highWater, 7);
  lv.apply("GOOG", q("GOOG", 1), 5, 1);
  t.equal(lv.highWater, 7, "a lower seq for another symbol does not lower it");
  lv.advanceTo(9);
  t.equal(lv.highWater, 9, "an invalid message still moves the position");
  lv.advanceTo(4);
  t.equal(lv.highWater, 9, "advanceTo never goes back");
  t.equal(lv.apply("AAPL", q("AAPL", 0), 2, 0), undefined);
  t.equal(lv.highWater, 9, "an ignored old quote does not lower it");
  t.equal(lv.size, 3, "advanceTo stores nothing");
});

t.test("last-values - while a catch-up holds the position, ids stay at its start whatever is applied", async (t) => {
  const lv = new LastValues();
  lv.apply("AAPL", q("AAPL", 1), 10, 1);
  t.equal(lv.position, 10, "the high-water mark when nothing is held");
  lv.holdPosition(10);
  lv.apply("MSFT", q("MSFT", 1), 25, 1);
  lv.advanceTo(30);
  t.equal(lv.highWater, 30);
  t.equal(lv.position, 10, "held: a gap below 30 may still be being filled");
  lv.holdPosition(20);
  t.equal(lv.position, 10, "a second hold never raises it");
  lv.holdPosition(5);
  t.equal(lv.position, 5, "but may lower it (a catch-up cut short, read again from further back)");
  lv.releasePosition();
  t.equal(lv.position, 30, "released: everything up to the high-water mark is applied");
});

t.test("last-values - rebase forgets the old stream's sequences but keeps the values", async (t) => {
  const lv = new LastValues();
  lv.apply("AAPL", q("AAPL", 5), 500, 5);
  lv.rebase();
  t.equal(lv.highWater, 0);
  t.equal(lv.get("AAPL")?.json, q("AAPL", 5), "the value is still the latest known");
  t.ok(lv.apply("AAPL", q("AAPL", 6), 1, 6), "the recreated stream's first sequence replaces it");
  t.equal(lv.position, 1);
});

t.test("last-values - beyond maxSymbols a new symbol is dropped and counted; those held keep updating", async (t) => {
  let reached = 0;
  const lv = new LastValues(2, () => reached++);
  t.ok(lv.apply("A", q("A", 1), 1, 1));
  t.ok(lv.apply("B", q("B", 1), 2, 1));
  t.equal(lv.apply("C", q("C", 1), 3, 1), undefined, "the third symbol is over the cap");
  t.equal(lv.apply("D", q("D", 1), 4, 1), undefined);
  t.equal(lv.get("C"), undefined);
  t.equal(lv.size, 2);
  t.equal(lv.overCap, 2, "each dropped quote counted");
  t.equal(reached, 1, "the cap is announced once, not per quote");
  t.ok(lv.apply("A", q("A", 2), 5, 2), "a symbol held still updates");
  t.equal(lv.highWater, 5, "a dropped quote still moves the position: it was read");
  t.equal(lv.apply("C", q("C", 2), 6, 2), undefined, "still over the cap");
  t.equal(lv.highWater, 6);
});
