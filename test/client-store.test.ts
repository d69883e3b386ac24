import t from "tap";
import { Store, type QuoteSnapshot } from "../packages/client/src/store.js";
import type { Quote } from "../packages/client/src/quote.js";

// The store of one subscription, pure: what React's useSyncExternalStore, Vue's shallowRef and
// Svelte's store contract rely on.

const EMPTY: QuoteSnapshot = { quotes: {}, status: "connecting", reason: undefined, confirmedAt: {} };
const q = (sym: string, seq: number): Quote => ({ sym, ts: 1000 + seq, seq, bid: seq });

function store(symbols: string[], initial = EMPTY): { s: Store; errors: Error[] } {
  const errors: Error[] = [];
  return { s: new Store(symbols, initial, (e) => errors.push(e)), errors };
}

t.test("client-store - a new snapshot per change; changed quotes replaced, the others the same objects, all frozen", async (t) => {
  const { s } = store(["A", "B"]);
  const a1 = q("A", 1);
  const b1 = q("B", 1);
  s.update({ quotes: [a1, b1], at: 5 });
  const first = s.getSnapshot();
  t.equal(first.quotes.A, a1);
  t.equal(s.getSnapshot(), first, "the same reference while nothing changes");
  const a2 = q("A", 2);
  s.update({ quotes: [a2], at: 6 });
  const second = s.getSnapshot();
  t.not(second, first, "a new reference after a change");
  t.not(second.quotes, first.quotes, "a new quotes object");
  t.equal(second.quotes.A, a2, "the changed quote is the new object");
  t.equal(second.quotes.B, b1, "an unchanged quote is the very same object");
  t.equal(first.quotes.A, a1, "the old snapshot is untouched");
  t.ok(Object.isFrozen(second) && Object.isFrozen(second.quotes) && Object.isFrozen(second.quotes.A), "frozen: nobody can mutate it");
  t.same(second.confirmedAt, { A: 6, B: 5 }, "confirmedAt per symbol");
  t.throws(() => {
    (second.quotes as Record<string, Quote>).A = q("A", 9);
  }, TypeError);
});

t.test("client-store - one notification per update whatever it holds; none when nothing of ours changed", async (t) => {
  const { s } = store(["A", "B", "C"]);
  const seen: QuoteSnapshot[] = [];
  const unsubscribe = s.subscribe((snap) => seen.push(snap));
  t.equal(seen.length, 1, "called at once with the current value (Svelte's contract)");
  s.update({ quotes: [q("A", 1), q("B", 1), q("C", 1)], at: 1 });
  t.equal(seen.length, 2, "three quotes in one event: one notification");
  s.update({ quotes: [q("Z", 1)], at: 2 });
  t.equal(seen.length, 2, "another subscription's symbol: no notification");
  const c1 = s.getSnapshot().quotes.C!;
  s.update({ quotes: [c1], at: 3 });
  t.equal(seen.length, 2, "the same object again: no notification");
  s.update({ status: { status: "live", reason: undefined }, at: 4 });
  t.equal(seen.length, 3, "a status change notifies");
  t.equal(seen[2]!.status, "live");
  unsubscribe();
  s.update({ quotes: [q("A", 2)], at: 5 });
  t.equal(seen.length, 3, "unsubscribed");
});

t.test("client-store - select(sym) notifies only for its own symbol and keeps its reference otherwise", async (t) => {
  const { s } = store(["A", "B"]);
  const a = s.select("a");
  const calls: (Quote | undefined)[] = [];
  a.subscribe((quote) => calls.push(quote));
  t.same(calls, [undefined], "called at once: no value yet");
  const a1 = q("A", 1);
  s.update({ quotes: [a1, q("B", 1)], at: 1 });
  t.same(calls, [undefined, a1]);
  s.update({ quotes: [q("B", 2)], at: 2 });
  t.equal(calls.length, 2, "B changed: A's listener not called");
  t.equal(a.getSnapshot(), a1, "A's snapshot is the same object");
});

t.test("client-store - a throwing listener is reported and the other listeners still run", async (t) => {
  const { s, errors } = store(["A"]);
  let calls = 0;
  s.subscribe(() => {
    if (calls++ > 0) throw new Error("boom");
  });
  let other = 0;
  s.subscribe(() => other++);
  s.update({ quotes: [q("A", 1)], at: 1 });
  t.equal(other, 2, "the second listener ran");
  t.equal(errors[0]?.message, "boom", "reported");
});

t.test("client-store - the initial snapshot takes the held quotes of its own symbols only", async (t) => {
  const a = q("A", 1);
  const { s } = store(["A", "B"], { quotes: { A: a, Z: q("Z", 1) }, status: "live", reason: undefined, confirmedAt: { A: 7 } });
  t.same(Object.keys(s.getSnapshot().quotes), ["A"]);
  t.equal(s.getSnapshot().quotes.A, a);
  t.equal(s.getSnapshot().status, "live");
});
