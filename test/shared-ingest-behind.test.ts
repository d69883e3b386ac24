// The shared ingest with a worker that reads slower than the feed (src/ingest/worker-feed.ts):
// its IPC channel is held back, the feed runs on, and what the primary queues for it stays bounded;
// once the channel drains the worker holds every final value, at the ingest's own position.
import t from "tap";
import { IngestReplica } from "../src/ingest/ingest-replica.js";
import { applyRecords, RecordTag, type IngestBatch, type IngestRecord, type IngestState } from "../src/ingest/ingest-records.js";
import { LastValues, type LastValue } from "../src/ingest/last-values.js";
import { RecordingLastValues } from "../src/ingest/recording-last-values.js";
import { MAX_IN_FLIGHT, WorkerFeed, type FeedMark, type FeedSource, type IngestTotals } from "../src/ingest/worker-feed.js";
import type { Logger } from "../src/log/logger.js";

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined } as unknown as Logger;

/** The node's ingest as NodeIngest drives it: recorded values, a batch per flush, one feed per worker. */
class Node implements FeedSource {
  readonly values = new RecordingLastValues();
  readonly feeds: WorkerFeed[] = [];
  received = 0;
  invalid = 0;
  loads = 0;
  reported: IngestTotals = { n: 0, o: 0, c: 0, invalid: {} };
  flush(): void {
    if (this.values.pending === 0) return;
    const batch: IngestBatch = { type: "qc-ingest-batch", r: this.values.take(), n: this.received - this.reported.n };
    this.reported = { n: this.received, o: 0, c: 0, invalid: { not_json: this.invalid } };
    const mark = this.mark();
    for (const f of this.feeds) f.offer(batch, mark);
  }
  mark(): FeedMark {
    return { position: this.values.position, rebases: this.values.rebases, loads: this.loads, totals: this.reported };
  }
  catchUpRecords(since: FeedMark | null, now: FeedMark): IngestRecord[] {
    const epoch = since === null || since.loads !== now.loads || since.rebases !== now.rebases ? (this.loads > 0 ? `ep${this.loads}` : null) : null;
    const r = this.values.catchUpRecords(since, epoch, true);
    const missed = (now.totals.invalid.not_json ?? 0) - (since?.totals.invalid.not_json ?? 0);
    if (since !== null && missed > 0) r.push(RecordTag.Invalids, "not_json", missed);
    return r;
  }
  quote(sym: string, seq: number): void {
    this.received++;
    this.values.apply(sym, `{"sym":"${sym}","seq":${seq}}`, seq, 1000 + seq);
  }
}

/** A worker behind an IPC channel whose writes complete only when the test lets them. */
function worker(node: Node) {
  const values = new LastValues();
  const heard = { quotes: 0, invalid: 0, loaded: [] as string[] };
  const replica = new IngestReplica(values, { onQuote: () => heard.quotes++, onInvalid: () => heard.invalid++, onLoaded: (e) => heard.loaded.push(e) }, silent);
  const unwritten: Array<{ msg: IngestState | IngestBatch; done: (err: Error | null) => void }> = [];
  let sent = 0;
  let held = false;
  const feed = new WorkerFeed((msg, done) => {
    sent++;
    unwritten.push({ msg, done });
    if (!held) queueMicrotask(drain);
  }, node);
  /** The channel writes everything queued, and the worker replays it, in order. */
  function drain(): void {
    while (unwritten.length > 0) {
      const { msg, done } = unwritten.shift()!;
      replica.received += msg.n;
      applyRecords(msg.r, replica);
      done(null);
    }
  }
  node.feeds.push(feed);
  return {
    values, replica, heard, feed,
    get sent() { return sent; },
    hold: () => (held = true),
    release: () => { held = false; drain(); },
    drain,
  };
}

const same = (a: LastValues, b: LastValues, syms: string[]) => syms.map((s) => [a.get(s)?.json, b.get(s)?.json] as [string | undefined, string | undefined]).filter(([x, y]) => x !== y);

t.test("shared ingest - a worker whose channel is held back gets no backlog, then every final value at the ingest's position", async (t) => {
  const node = new Node();
  const syms = Array.from({ length: 50 }, (_, i) => `S${i}`);
  let seq = 0;
  for (const s of syms) node.quote(s, ++seq);
  node.loads = 1;
  node.values.note(RecordTag.Loaded, "ep1");
  const fast = worker(node);
  const slow = worker(node);
  fast.feed.start();
  slow.feed.start();
  fast.drain();
  slow.drain();
  t.equal(slow.values.size, 50, "the state on hello");
  t.same(slow.heard.loaded, ["ep1"]);

  // The slow worker stops reading (a start starved of CPU, a GC pause, SIGSTOP): 10,000 batches go by.
  slow.hold();
  const sentBefore = slow.sent;
  for (let b = 0; b < 10_000; b++) {
    for (let k = 0; k < 5; k++) node.quote(syms[(b * 7 + k) % syms.length]!, ++seq);
    if (b % 100 === 0) {
      node.invalid++;
      node.received++;
      node.values.note(RecordTag.Invalid, "not_json");
      node.values.advanceTo(++seq);
    }
    if (b === 5000) node.values.holdPosition(seq - 3); // a catch-up under way
    if (b === 5001) node.values.releasePosition();
    node.flush();
    fast.drain();
  }
  t.ok(slow.sent - sentBefore <= MAX_IN_FLIGHT, `at most ${MAX_IN_FLIGHT} batches queued for the held-back worker (${slow.sent - sentBefore} of 10,000)`);
  t.ok(slow.feed.behind, "it is known to be behind");
  t.same(same(fast.values, node.values, syms), [], "the worker that keeps up holds every value");
  t.equal(fast.values.position, node.values.position);

  slow.release();
  t.equal(slow.feed.catchUps, 1, "one catch-up message, not the backlog");
  t.notOk(slow.feed.behind);
  t.same(same(slow.values, node.values, syms), [], "every final value, once the channel drains");
  t.equal(slow.values.position, node.values.position, "the ingest's position, so the same event ids as every other worker");
  t.equal(slow.values.highWater, node.values.highWater);
  t.equal(slow.replica.received, fast.replica.received, "received counts every feed message, skipped or not");
  t.equal(slow.heard.invalid, fast.heard.invalid, "invalid messages counted while behind");
  t.same(slow.heard.loaded, ["ep1"], "loaded is not announced again for the same load");

  // And it follows batch by batch again.
  node.quote("S1", ++seq);
  node.flush();
  slow.drain();
  t.equal(slow.values.get("S1")?.streamSeq, seq);
  t.equal(slow.feed.catchUps, 1);
});

t.test("shared ingest - a worker behind across a held position and a rebase reaches the ingest's state", async (t) => {
  const node = new Node();
  const syms = ["A", "B", "C"];
  node.quote("A", 1);
  node.quote("B", 2);
  node.quote("C", 3);
  node.values.holdPosition(1); // an early catch-up: the worker holds at 1
  const w = worker(node);
  w.feed.start();
  w.drain();
  t.equal(w.values.position, 1);
  w.hold();
  for (let i = 0; i < 3 * MAX_IN_FLIGHT; i++) {
    node.quote("B", 10 + i);
    node.flush();
  }
  node.values.releasePosition();
  node.quote("A", 50); // changed before the rebase, missed by the worker
  node.values.rebase();
  node.loads = 2;
  node.values.note(RecordTag.Loaded, "ep2");
  node.quote("C", 2);
  node.values.holdPosition(1); // and a new catch-up under way
  node.flush();
  w.release();
  t.same(same(w.values, node.values, syms), [], "values changed before the rebase are not lost");
  t.equal(w.values.position, node.values.position, "held where the ingest holds");
  t.equal(w.values.highWater, node.values.highWater);
  t.same(w.heard.loaded.at(-1), "ep2");
  t.equal((w.values.get("A") as LastValue).streamSeq, 0);
});
