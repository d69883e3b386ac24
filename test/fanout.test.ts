import t from "tap";
import { LastValues } from "../src/ingest/last-values.js";
import type { Sink } from "../src/fanout/connection.js";
import { formatEventId } from "../src/fanout/event-id.js";
import { Fanout, type FanoutOptions } from "../src/fanout/fanout.js";

/** An in-memory socket: records a copy of every chunk (frames are only valid during `write`), and can be told to report congestion. */
class MemorySink implements Sink {
  readonly chunks: (Uint8Array | string)[] = [];
  congestNext = false;
  closed = false;
  ended = false;
  write(chunk: Uint8Array | string): boolean {
    this.chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk));
    if (this.congestNext) {
      this.congestNext = false;
      return false;
    }
    return true;
  }
  close(): void {
    this.closed = true;
  }
  end(): void {
    this.ended = true;
  }
  get texts(): string[] {
    return this.chunks.map((c) => (typeof c === "string" ? c : Buffer.from(c).toString()));
  }
  /** Parsed events: { id, event, data } for each chunk that is an event. */
  get events(): { id: string; event: string; data: { sym: string; seq: number }[] }[] {
    return this.texts
      .filter((s) => s.startsWith("id: "))
      .map((s) => {
        const [idLine, eventLine, dataLine] = s.split("\n");
        return { id: idLine!.slice(4), event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) };
      });
  }
}

const EPOCH = "abc";
const opts: FanoutOptions = { heartbeatMs: 1000, heartbeatSweepMs: 100, slowConsumerMs: 500 };

/**
 * Ticks as the feed makes them for the out-of-step tests: AAPL and TSLA change before each tick,
 * MSFT between its two slices (after the first group's frame, before the second's and before
 * frames owed to anyone). Tick n quotes each of them with seq n; `count` is the ticks so far.
 */
function midSliceTicks(fanout: Fanout, quote: (sym: string, seq: number) => void): { tick: (now: number) => void; count: () => number } {
  let n = 0;
  const tick = (now: number): void => {
    n++;
    quote("AAPL", n);
    quote("TSLA", n);
    fanout.beginTick(now);
    fanout.runTick(1);
    quote("MSFT", n);
    fanout.runTick(Number.POSITIVE_INFINITY);
  };
  return { tick, count: () => n };
}

function setup(o: Partial<FanoutOptions> = {}) {
  const values = new LastValues();
  const fanout = new Fanout(values, { ...opts, ...o });
  let seq = 0;
  const quote = (sym: string, n: number) => {
    seq++;
    const value = values.apply(sym, JSON.stringify({ sym, ts: Date.now(), seq: n }), seq, Date.now());
    if (value !== undefined) fanout.onQuote(value);
    return seq;
  };
  return { values, fanout, quote, streamSeq: () => seq };
}

t.test("fanout - a subscriber waits for the last values, then gets its snapshot", async (t) => {
  const { fanout, quote } = setup();
  quote("AAPL", 1);
  const sink = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, sink, 0);
  t.same(sink.chunks, [], "nothing before the last values are loaded");
  fanout.markLoaded(EPOCH, 10);
  t.equal(sink.texts.length, 1);
  t.equal(sink.texts[0], `id: ${formatEventId(EPOCH, 1)}\nevent: snapshot\ndata: [${JSON.stringify({ sym: "AAPL", ts: JSON.parse(sink.texts[0]!.split("data: ")[1]!)[0].ts, seq: 1 })}]\n\n`);
});

t.test("fanout - hundreds of updates inside one window give one event with the last value", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const sink = new MemorySink();
  fanout.open(["AAPL"], 50, undefined, sink, 0);
  for (let i = 1; i <= 500; i++) quote("AAPL", i);
  fanout.tick(60);
  const quotes = sink.events.filter((e) => e.event === "quotes");
  t.equal(quotes.length, 1);
  t.same(quotes[0]!.data.map((q) => q.seq), [500]);
  t.equal(quotes[0]!.id, formatEventId(EPOCH, 500), "the id is the stream position reached");
});

t.test("fanout - never more than one quotes event per window", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const sink = new MemorySink();
  fanout.open(["AAPL"], 50, undefined, sink, 0);
  const eventTimes: number[] = [];
  for (let now = 0; now <= 1000; now += 10) {
    quote("AAPL", now);
    const before = sink.events.length;
    fanout.tick(now);
    if (sink.events.length > before) eventTimes.push(now);
  }
  t.ok(eventTimes.length >= 19, `events keep flowing (${eventTimes.length})`);
  for (let i = 1; i < eventTimes.length; i++) t.ok(eventTimes[i]! - eventTimes[i - 1]! >= 50, `gap ${eventTimes[i]! - eventTimes[i - 1]!} >= 50`);
});

t.test("fanout - interval= slows one connection without slowing the others", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const fast = new MemorySink();
  const slow = new MemorySink();
  fanout.open(["AAPL"], 50, undefined, fast, 0);
  fanout.open(["AAPL"], 400, undefined, slow, 0);
  for (let now = 0; now <= 2000; now += 10) {
    quote("AAPL", now);
    fanout.tick(now);
  }
  const n = (s: MemorySink) => s.events.filter((e) => e.event === "quotes").length;
  t.ok(n(fast) >= 35, `fast connection got ${n(fast)} events`);
  t.ok(n(slow) >= 4 && n(slow) <= 6, `slow connection got ${n(slow)} events in 2 s at 400 ms`);
});

t.test("fanout - connections with the same subscription share one frame buffer", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const a = new MemorySink();
  const b = new MemorySink();
  const other = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, a, 0);
  fanout.open(["MSFT", "aapl".toUpperCase()], 50, undefined, b, 0);
  fanout.open(["AAPL"], 50, undefined, other, 0);
  t.equal(fanout.groupCount, 2, "symbol order does not matter");
  quote("AAPL", 1);
  fanout.tick(100);
  t.equal(fanout.counters.framesSent - 3, 3, "three frames written");
  t.equal(fanout.counters.framesBuilt, 2, "but only two built: a and b got the same bytes");
  t.equal(a.texts.at(-1), b.texts.at(-1));
});

t.test("fanout - only symbols the connection subscribed to are sent", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const sink = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, sink, 0);
  quote("TSLA", 1);
  fanout.tick(100);
  t.equal(sink.events.length, 1, "only the snapshot: TSLA is not subscribed");
  quote("MSFT", 2);
  quote("TSLA", 3);
  fanout.tick(200);
  t.same(sink.events.at(-1)!.data.map((q) => q.sym), ["MSFT"]);
});

t.test("fanout - a congested connection is skipped, then gets only the latest values", async (t) => {
  const { fanout, quote } = setup({ slowConsumerMs: 60_000 });
  fanout.markLoaded(EPOCH, 0);
  const fast = new MemorySink();
  const stuck = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, fast, 0);
  const conn = fanout.open(["AAPL", "MSFT"], 50, undefined, stuck, 0);
  quote("AAPL", 1);
  stuck.congestNext = true;
  fanout.tick(100);
  t.equal(stuck.events.length, 2, "the write that reported congestion was still made");
  for (let i = 2; i <= 50; i++) {
    quote("AAPL", i);
    if (i === 20) quote("MSFT", 7);
    fanout.tick(100 + i * 50);
  }
  t.equal(stuck.events.length, 2, "nothing is written while congested");
  t.ok(fast.events.length > 40, "the other connection is not held back");
  fanout.onWritable(conn);
  fanout.tick(3000);
  const last = stuck.events.at(-1)!;
  t.equal(stuck.events.length, 3, "one event after draining");
  t.same(last.data.map((q) => [q.sym, q.seq]).sort(), [["AAPL", 50], ["MSFT", 7]], "latest value of each changed symbol");
  t.equal(fanout.owedCount, 0, "nothing owed any more");
  fanout.tick(3100);
  t.equal(stuck.events.length, 3, "and nothing sent again");
});

t.test("fanout - a connection congested longer than slow-consumer-ms is closed and counted", async (t) => {
  const { fanout, quote } = setup({ slowConsumerMs: 500 });
  fanout.markLoaded(EPOCH, 0);
  const sink = new MemorySink();
  sink.congestNext = true;
  fanout.open(["AAPL"], 50, undefined, sink, 0);
  quote("AAPL", 1);
  fanout.tick(400);
  t.equal(sink.closed, false);
  fanout.tick(600);
  t.equal(sink.closed, true);
  t.equal(fanout.counters.slowConsumerDisconnects, 1);
  t.equal(fanout.connectionCount, 0);
});

t.test("fanout - heartbeats fill silences, never on a congested socket", async (t) => {
  const { fanout } = setup({ heartbeatMs: 1000, heartbeatSweepMs: 100 });
  fanout.markLoaded(EPOCH, 0);
  const idle = new MemorySink();
  const stuck = new MemorySink();
  fanout.open(["AAPL"], 50, undefined, idle, 0);
  stuck.congestNext = true;
  fanout.open(["AAPL"], 50, undefined, stuck, 0);
  fanout.heartbeat(800);
  t.equal(idle.texts.length, 1, "not yet");
  fanout.heartbeat(900);
  t.same(idle.texts.slice(1), [":\n\n"], "a comment before heartbeatMs of silence has passed");
  t.equal(stuck.texts.length, 1, "nothing written to the congested socket");
});

t.test("fanout - resume with Last-Event-ID sends exactly the symbols changed since", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  quote("AAPL", 1);
  quote("MSFT", 1);
  quote("TSLA", 1);
  const first = new MemorySink();
  fanout.open(["AAPL", "MSFT", "TSLA"], 50, undefined, first, 0);
  const lastId = first.events[0]!.id;
  t.equal(lastId, formatEventId(EPOCH, 3));
  quote("MSFT", 2);
  quote("GOOG", 1);
  const again = new MemorySink();
  fanout.open(["AAPL", "MSFT", "TSLA"], 50, lastId, again, 0);
  t.same(again.events[0]!.data.map((q) => [q.sym, q.seq]), [["MSFT", 2]]);
  const unknown = new MemorySink();
  fanout.open(["AAPL", "MSFT", "TSLA"], 50, "other-3", unknown, 0);
  t.equal(unknown.events[0]!.data.length, 3, "an id from another stream gets the full snapshot");
  const garbage = new MemorySink();
  fanout.open(["AAPL", "MSFT", "TSLA"], 50, "not an id", garbage, 0);
  t.equal(garbage.events[0]!.data.length, 3, "a malformed id gets the full snapshot");
});

t.test("fanout - quotes already in a subscriber's snapshot are not sent again", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const early = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, early, 0);
  quote("AAPL", 1);
  const late = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, late, 10);
  t.same(late.events[0]!.data.map((q) => q.seq), [1], "the snapshot has AAPL 1");
  quote("MSFT", 1);
  fanout.tick(60);
  t.same(early.events.at(-1)!.data.map((q) => q.sym).sort(), ["AAPL", "MSFT"]);
  t.same(late.events.at(-1)!.data.map((q) => q.sym), ["MSFT"], "only what changed after the snapshot");
});

t.test("fanout - removing the last member forgets the group", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const sink = new MemorySink();
  const conn = fanout.open(["AAPL"], 50, undefined, sink, 0);
  fanout.remove(conn);
  t.equal(fanout.groupCount, 0);
  t.equal(fanout.connectionCount, 0);
  quote("AAPL", 1);
  fanout.tick(100);
  t.equal(sink.chunks.length, 1, "nothing written after removal");
});

t.test("fanout - a snapshot lists the symbols in the order asked, without those never quoted", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  quote("AAPL", 1);
  quote("MSFT", 1);
  quote("GOOG", 1);
  const sink = new MemorySink();
  fanout.open(["GOOG", "NOPE", "AAPL"], 50, undefined, sink, 0);
  t.same(sink.events[0]!.data.map((q) => q.sym), ["GOOG", "AAPL"]);
  const none = new MemorySink();
  fanout.open(["NOPE"], 50, undefined, none, 0);
  t.same(none.events[0]!.data, [], "none known: an empty snapshot");
});

t.test("fanout - a resumed snapshot holds the quotes strictly newer than the id", async (t) => {
  const values = new LastValues();
  const fanout = new Fanout(values, opts);
  fanout.markLoaded(EPOCH, 0);
  const apply = (sym: string, n: number, streamSeq: number) => fanout.onQuote(values.apply(sym, JSON.stringify({ sym, seq: n }), streamSeq, 0)!);
  apply("AAPL", 1, 10);
  apply("MSFT", 1, 20);
  apply("GOOG", 1, 30);
  apply("AAPL", 2, 40);
  const ids: string[] = [];
  const resumed = (after: number) => {
    const sink = new MemorySink();
    fanout.open(["AAPL", "MSFT", "GOOG"], 50, formatEventId(EPOCH, after), sink, 0);
    ids.push(sink.events[0]!.id);
    return sink.events[0]!.data.map((q) => `${q.sym}${q.seq}`);
  };
  t.same(resumed(0), ["AAPL2", "MSFT1", "GOOG1"], "after 0: everything");
  t.same(resumed(20), ["AAPL2", "GOOG1"], "strictly after 20: MSFT at 20 is not newer");
  t.same(resumed(30), ["AAPL2"]);
  t.same(resumed(40), [], "up to date");
  t.same(resumed(1000), [], "an id from further on (another worker read further)");
  // The snapshot's id is this worker's position, or the client's id when that is further on: an id
  // a client sees never goes back, so its next resume does not ask again for what it holds.
  t.same(ids, [0, 20, 30, 40, 1000].map((after) => formatEventId(EPOCH, Math.max(after, 40))));
  const full = new MemorySink();
  fanout.open(["AAPL"], 50, formatEventId("another-epoch", 5000), full, 0);
  t.equal(full.events[0]!.id, formatEventId(EPOCH, 40), "an id of another epoch is not a position here: the full snapshot carries our own");
});

t.test("fanout - a member that leaves while its frame is written skips no other member", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const sinks = Array.from({ length: 5 }, () => new MemorySink());
  const conns = sinks.map((s) => fanout.open(["AAPL"], 50, undefined, s, 0));
  // The third member's socket goes away during its write (as a synchronous abort would do).
  const leaving = sinks[2]!;
  const write = leaving.write.bind(leaving);
  leaving.write = (chunk) => {
    fanout.remove(conns[2]!);
    return write(chunk);
  };
  quote("AAPL", 1);
  fanout.tick(100);
  t.same(sinks.map((s) => s.events.length), [2, 2, 2, 2, 2], "every member got the frame once");
  quote("AAPL", 2);
  fanout.tick(200);
  t.same(sinks.map((s) => s.events.length), [3, 3, 2, 3, 3], "then the others only");
  t.same(sinks[4]!.events.at(-1)!.data.map((q) => q.seq), [2]);
});

t.test("fanout - groups are flushed in the order they were made, also after many have gone", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const written: number[] = [];
  const conns = Array.from({ length: 300 }, (_, i) => {
    const sink = new MemorySink();
    const write = sink.write.bind(sink);
    sink.write = (chunk) => {
      if (typeof chunk !== "string" && Buffer.from(chunk).toString().includes("event: quotes")) written.push(i);
      return write(chunk);
    };
    // Each its own group: the shared symbol plus one of its own.
    return fanout.open(["AAPL", `S${i}`], 50, undefined, sink, 0);
  });
  const ticks = [100, 200];
  for (const now of ticks) {
    // Symbols change in a different order each tick; the flush order does not follow them.
    for (let i = 299; i >= 0; i -= now / 100) quote(`S${i}`, now);
    quote("AAPL", now);
    written.length = 0;
    fanout.tick(now);
    t.same(written, [...written].sort((a, b) => a - b), `tick at ${now}: creation order`);
    t.equal(written.length, 300);
  }
  for (let i = 0; i < 300; i++) if (i % 3 !== 0) fanout.remove(conns[i]!);
  t.equal(fanout.groupCount, 100, "two thirds gone (the order is compacted)");
  quote("AAPL", 999);
  written.length = 0;
  fanout.tick(300);
  t.same(written, Array.from({ length: 100 }, (_, k) => 3 * k), "the rest, each once, still in creation order");
});

t.test("fanout - a tick in slices: a quote that lands between two slices goes out in the later frames, once", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const a = new MemorySink();
  const b = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, a, 0);
  fanout.open(["AAPL", "TSLA"], 50, undefined, b, 0);
  quote("AAPL", 1);
  fanout.beginTick(100);
  t.equal(fanout.runTick(1), false, "one frame, then the tick yields");
  const mid = quote("AAPL", 2);
  t.equal(fanout.runTick(1), true, "the second frame ends it");
  fanout.tick(200);
  fanout.tick(300);
  const seqs = (s: MemorySink) => s.events.filter((e) => e.event === "quotes").map((e) => e.data.map((q) => q.seq));
  t.same(seqs(a), [[1], [2]], "the frame written first carries the value then; the next tick brings the new one");
  t.same(seqs(b), [[2]], "the frame written after the quote carries it, and no later frame repeats it");
  const ids = b.events.map((e) => e.id);
  t.equal(ids.at(-1), formatEventId(EPOCH, mid), "its id is the position when it was built");
});

t.test("fanout - a subscriber that joins between two slices gets its snapshot and then only what changed after it", async (t) => {
  const { fanout, quote } = setup();
  fanout.markLoaded(EPOCH, 0);
  const a = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, a, 0);
  const other = new MemorySink();
  fanout.open(["TSLA"], 50, undefined, other, 0);
  quote("AAPL", 1);
  quote("TSLA", 1);
  fanout.beginTick(100);
  t.equal(fanout.runTick(1), false);
  const late = new MemorySink();
  fanout.open(["AAPL", "MSFT"], 50, undefined, late, 100);
  quote("MSFT", 2);
  fanout.runTick(Infinity);
  fanout.tick(200);
  const events = (s: MemorySink) => s.events.map((e) => `${e.event}:${e.data.map((q) => `${q.sym}${q.seq}`).join(",")}`);
  t.same(events(late), ["snapshot:AAPL1", "quotes:MSFT2"], "the snapshot, then the one change after it");
  t.same(events(a), ["snapshot:", "quotes:AAPL1", "quotes:MSFT2"], "the member in step is not held back by it");
});

t.test("fanout - a member that fell out of step shares its group's frames again, full and delta", async (t) => {
  for (const delta of [false, true]) {
    const { fanout, quote } = setup({ slowConsumerMs: 60_000 });
    fanout.markLoaded(EPOCH, 0);
    const a = new MemorySink();
    const stuck = new MemorySink();
    const other = new MemorySink();
    fanout.open(["AAPL", "MSFT"], 50, undefined, a, 0, { delta });
    const conn = fanout.open(["AAPL", "MSFT"], 50, undefined, stuck, 0, { delta });
    fanout.open(["TSLA"], 50, undefined, other, 0, { delta });
    const { tick } = midSliceTicks(fanout, quote);
    stuck.congestNext = true;
    tick(100);
    tick(150);
    fanout.onWritable(conn);
    for (let now = 200; now < 400; now += 50) tick(now);
    const built0 = fanout.counters.framesBuilt;
    const sent0 = fanout.counters.framesSent;
    for (let now = 400; now < 900; now += 50) tick(now);
    const mode = delta ? "delta" : "full";
    t.equal(fanout.counters.framesSent - sent0, 30, `${mode}: a frame per connection per tick`);
    t.equal(fanout.counters.framesBuilt - built0, 20, `${mode}: two built per tick, one per group: the member that was congested shares its group's again`);
    t.same(stuck.texts.at(-1), a.texts.at(-1), `${mode}: the same bytes as its group`);
  }
});

t.test("fanout - a lone member that fell out of step is back in step with its group, and misses nothing", async (t) => {
  for (const delta of [false, true]) {
    const { fanout, quote } = setup({ slowConsumerMs: 60_000 });
    fanout.markLoaded(EPOCH, 0);
    const lone = new MemorySink();
    const conn = fanout.open(["AAPL", "MSFT"], 50, undefined, lone, 0, { delta });
    fanout.open(["TSLA"], 50, undefined, new MemorySink(), 0, { delta });
    // The merged state of the lone connection: full quotes replace, deltas merge.
    const held = new Map<string, number>();
    const { tick, count } = midSliceTicks(fanout, quote);
    lone.congestNext = true;
    tick(100);
    tick(150);
    fanout.onWritable(conn);
    for (let now = 200; now < 400; now += 50) tick(now);
    const built0 = fanout.counters.framesBuilt;
    for (let now = 400; now < 900; now += 50) tick(now);
    const mode = delta ? "delta" : "full";
    t.equal(fanout.counters.framesBuilt - built0, 20, `${mode}: one frame built per group per tick`);
    for (const e of lone.events) for (const q of e.data) if (q.seq !== undefined) held.set(q.sym, q.seq);
    // MSFT's last quote landed after the last frames: AAPL holds the last tick's, MSFT the one before.
    t.same([held.get("AAPL"), held.get("MSFT")], [count(), count() - 1], `${mode}: it holds every change its frames could carry`);
  }
});
