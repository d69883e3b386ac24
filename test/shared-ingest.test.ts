// The shared ingest's records (src/ingest/ingest-records.ts): a worker that replays what the
// node's ingest wrote down holds the same values, positions and ids as the ingest itself.
import t from "tap";
import { LastValues } from "../src/ingest/last-values.js";
import { RecordingLastValues } from "../src/ingest/recording-last-values.js";
import { applyRecords, IngestRecordError, RecordTag, type RecordTarget } from "../src/ingest/ingest-records.js";
import type { InvalidReason } from "../src/ingest/validate.js";

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

// Integration: a real nats-server and quotecast with two workers fed by the node's one ingest.
t.test("shared ingest - two workers, one NATS reader: same ids on both, resume across them, a restarted worker gets the state", { timeout: 60_000 }, async (t) => {
  const { startNatsServer } = await import("./helpers/nats-server.js");
  const { TestPublisher } = await import("./helpers/publisher.js");
  const { metricValue, startQuotecast, waitFor } = await import("./helpers/quotecast.js");
  const { RawSseClient } = await import("./helpers/sse-client.js");
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2", "--ingest", "shared"] });
  t.teardown(() => qc.stop());
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_nats_connected") === 2, 10_000, "two ready workers");
  t.equal(qc.logged("connected to NATS"), 1, "one NATS connection for the node, not one per worker");

  const syms = ["SHA", "SHB", "SHC"];
  for (let i = 0; i < 50; i++) for (const s of syms) pub.quote(s);
  const last = pub.quote("SHA");
  await pub.flush();
  // Both workers have replayed all 151 quotes before anyone subscribes: the node's ingest hands
  // them over asynchronously, and a snapshot taken before the last batch lands is older.
  await waitFor(async () => metricValue(await qc.metrics(), "quotecast_quotes_received_total") >= 2 * 151, 10_000, "both workers to hold every quote");
  const open = async (n: number) => {
    const cs = Array.from({ length: n }, () => RawSseClient.open(qc.port, `/quotes?symbols=${syms.join(",")}`));
    t.teardown(() => cs.forEach((c) => c.close()));
    for (const c of cs) await c.waitFor(() => c.events.length >= 1 && c.snapshot().some((q) => q.sym === "SHA" && q.seq === last.seq), 5000, "a current snapshot");
    return cs;
  };
  // SO_REUSEPORT spreads a dozen connections over both workers.
  const clients = await open(12);
  const ids = new Set(clients.map((c) => c.lastId()));
  t.equal(ids.size, 1, `every snapshot has the same id, whichever worker sent it (${[...ids].join(", ")})`);
  t.same(clients[0]!.snapshot().map((q) => q.sym).sort(), syms, "every symbol in the snapshot");

  // Resume on any worker: only what changed after the id.
  const id = clients[0]!.lastId()!;
  const next = pub.quote("SHB");
  await pub.flush();
  await clients[0]!.waitFor(() => clients[0]!.quotes().some((e) => e.quotes.some((q) => q.seq === next.seq)), 5000, "the live quote");
  const resumed = Array.from({ length: 8 }, () => RawSseClient.open(qc.port, `/quotes?symbols=${syms.join(",")}&lastEventId=${encodeURIComponent(id)}`));
  t.teardown(() => resumed.forEach((c) => c.close()));
  for (const c of resumed) {
    await c.waitFor(() => c.events.length >= 1, 5000, "a resume snapshot");
    t.same(c.snapshot().map((q) => [q.sym, q.seq]), [["SHB", next.seq]], "exactly what changed after the id");
  }

  // A worker that dies is replaced, and its successor starts from the node's state.
  const [victim] = qc.workerPids();
  process.kill(victim!, "SIGKILL");
  await waitFor(() => qc.workerPids().length === 2 && !qc.workerPids().includes(victim!), 10_000, "a replacement worker");
  await waitFor(async () => metricValue(await qc.metrics().catch(() => ""), "quotecast_nats_connected") === 2, 10_000, "the replacement ready");
  const after = await open(12);
  t.equal(new Set(after.map((c) => c.lastId())).size, 1, "the replacement's ids match the other worker's");
  t.ok(after.every((c) => c.snapshot().length === syms.length), "full snapshots from both");
});
