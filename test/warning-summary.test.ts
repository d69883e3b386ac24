import t from "tap";
import { diff } from "../src/wiring/warning-summary.js";

t.test("warning-summary - only what increased is reported, nothing when nothing did", async (t) => {
  t.equal(diff({ a: 1, b: 2 }, { a: 1, b: 2 }), null);
  t.same(diff({ a: 1, b: 2 }, { a: 4, b: 2, c: 1 }), { a: 3, c: 1 });
});
