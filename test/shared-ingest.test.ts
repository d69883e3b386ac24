// The shared ingest's records (src/feed/ingest-records.ts): a worker that replays what the
// node's ingest wrote down holds the same values, positions and ids as the ingest itself.
import t from "tap";
import { LastValues } from "../src/feed/last-values.js";
import { RecordingLastValues } from "../src/feed/recording-last-values.js";
import { applyRecords, IngestRecordError, RecordTag, type RecordTarget } from "../src/feed/ingest-records.js";
import type { InvalidReason } from "../src/feed/validate.js";

/** A worker's side, as IngestReplica does it, with what the listener heard. */
function replica(): { values: LastValues; target: RecordTarget; heard: string[] } {
  const values = new LastValues();
  const heard: string[] = [];
  const target: RecordTarget = {
    quote: (sym, seq, ts, json) => {
      if (values.apply(sym, json, seq, ts) !== undefined) heard.push(`quote ${sym} ${seq}`);
    },
    advance: (seq) => values.advanceTo(seq),
    invalid: (reason: InvalidReason) => heard.push(`invalid ${reason}`),
    hold: (seq) => values.holdPosition(seq),
    release: () => values.releasePosition(),
    rebase: () => values.rebase(),
    markLoaded: (epoch) => heard.push(`loaded ${epoch}`),
    markConnected: (up) => heard.push(`connected ${up}`),
  };
  return { values, target, heard };
}

const q = (sym: string, seq: number) => `{"sym":"${sym}","ts":${1000 + seq},"seq":${seq}}`;

t.test("shared ingest - records are exact, and a replica reaches the ingest's values and position", async (t) => {
  const rec = new RecordingLastValues();
  rec.apply("AAPL", q("AAPL", 1), 5, 1001);
  rec.apply("AAPL", q("AAPL", 0), 4, 1000); // older: changes nothing, writes nothing
  rec.advanceTo(6);
  rec.holdPosition(6);
  rec.apply("MSFT", q("MSFT", 1), 7, 1001);
  rec.note(RecordTag.Invalid, "not_json");
  t.same(rec.take(), [
    RecordTag.Quote, "AAPL", 5, 1001, q("AAPL", 1),
    RecordTag.Advance, 6,
    RecordTag.Hold, 6,
    RecordTag.Quote, "MSFT", 7, 1001, q("MSFT", 1),
    RecordTag.Invalid, "not_json",
  ]);
  t.same(rec.take(), [], "taken records are gone");
  const r = replica();
  // A worker that starts now gets the state, then what follows.
  applyRecords(rec.stateRecords(null, true), r.target);
  t.equal(r.values.position, 6, "the held position travels with the state");
  t.equal(r.values.highWater, 7);
  rec.releasePosition();
  rec.apply("AAPL", q("AAPL", 2), 8, 1002);
  rec.note(RecordTag.Loaded, "ep1");
  applyRecords(rec.take(), r.target);
  t.equal(r.values.position, rec.position, "same position, so the same event ids");
  t.equal(r.values.position, 8);
  t.equal(r.values.get("AAPL")?.json, q("AAPL", 2));
  t.equal(r.values.get("MSFT")?.streamSeq, 7);
  t.same(r.heard, ["quote AAPL 5", "quote MSFT 7", "connected true", "quote AAPL 8", "loaded ep1"]);
});

t.test("shared ingest - a rebase travels: the new stream's low sequences replace the values", async (t) => {
  const rec = new RecordingLastValues();
  const r = replica();
  rec.apply("AAPL", q("AAPL", 9), 900, 1009);
  rec.rebase();
  rec.apply("AAPL", q("AAPL", 1), 1, 1001);
  applyRecords(rec.take(), r.target);
  t.equal(r.values.get("AAPL")?.streamSeq, 1);
  t.equal(r.values.highWater, 1);
});

t.test("shared ingest - an unknown record is a typed error, not a wrong state", async (t) => {
  const r = replica();
  t.throws(() => applyRecords([99, "x"], r.target), IngestRecordError);
});
