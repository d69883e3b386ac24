import t from "tap";
import zlib from "node:zlib";
import { LastValues } from "../src/ingest/last-values.js";
import { CHUNK_FRAMING_BYTES, WINDOW_MS } from "../src/fanout/byte-budget.js";
import type { Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";
import { GzipSink } from "../src/fanout/gzip-sink.js";

// The fan-out with bandwidth budgets (maxKbps) and gzip streams, on a fake clock and in-memory sockets.

/** Records every write with the time it was made and its size. */
class TimedSink implements Sink {
  readonly writes: { at: number; bytes: Buffer }[] = [];
  now = 0;
  write(chunk: Uint8Array | string): boolean {
    this.writes.push({ at: this.now, bytes: Buffer.from(chunk) });
    return true;
  }
  close(): void {}
  end(): void {}
  get all(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.bytes));
  }
}

interface Q {
  sym: string;
  seq: number;
}

/** SSE events in a text stream: [event name, data]. */
function events(text: string): [string, Q[]][] {
  return text
    .split("\n\n")
    .filter((e) => e.includes("data: "))
    .map((e) => [/event: (\w+)/.exec(e)![1]!, JSON.parse(e.slice(e.indexOf("data: ") + 6))]);
}

const SYMS = Array.from({ length: 20 }, (_, i) => `S${i}`);
const EPOCH = "e";

function setup() {
  const values = new LastValues();
  const fanout = new Fanout(values, { heartbeatMs: 1000, heartbeatSweepMs: 100, slowConsumerMs: 60_000 });
  let pos = 0;
  const seqs = new Map<string, number>();
  const quote = (sym: string) => {
    const seq = (seqs.get(sym) ?? 0) + 1;
    seqs.set(sym, seq);
    // About 100 bytes, like a feed's quote.
    const json = JSON.stringify({ sym, ts: Date.now(), seq, bid: 100 + seq / 100, ask: 100.02 + seq / 100, bsz: 300 + (seq % 50), asz: 200 + (seq % 70) });
    const v = values.apply(sym, json, ++pos, Date.now());
    if (v !== undefined) fanout.onQuote(v);
  };
  fanout.markLoaded(EPOCH, 0);
  return { fanout, quote, seqs };
}

/** Every symbol quotes every `tickMs` until `feedUntil`, ticks run until `until`. */
function run(f: ReturnType<typeof setup>, sinks: TimedSink[], feedUntil: number, until: number, tickMs = 50): void {
  for (let now = tickMs; now <= until; now += tickMs) {
    for (const s of sinks) s.now = now;
    if (now <= feedUntil) for (const sym of SYMS) f.quote(sym);
    f.fanout.tick(now);
  }
}

/** Most bytes (with chunk framing) written in any window of `windowMs`. */
function worstWindow(sink: TimedSink, windowMs: number): number {
  let worst = 0;
  const w = sink.writes;
  for (let i = 0, j = 0, sum = 0; i < w.length; i++) {
    sum += w[i]!.bytes.length + CHUNK_FRAMING_BYTES;
    while (w[i]!.at - w[j]!.at >= windowMs) sum -= w[j++]!.bytes.length + CHUNK_FRAMING_BYTES;
    worst = Math.max(worst, sum);
  }
  return worst;
}

t.test("fanout budget - within budget over any 10 s, no symbol starves, and a quiet feed ends with every latest value", async (t) => {
  const f = setup();
  for (const sym of SYMS) f.quote(sym);
  const sink = new TimedSink();
  const kbps = 8; // 1,000 bytes/s: a frame of all 20 symbols (~2 kB) never fits
  f.fanout.open(SYMS, 50, undefined, sink, 0, { maxKbps: kbps });
  run(f, [sink], 60_000, 90_000);
  const worst = worstWindow(sink, WINDOW_MS);
  t.ok(worst <= (kbps / 8) * WINDOW_MS, `worst 10 s: ${worst} bytes, budget ${(kbps / 8) * WINDOW_MS}`);
  t.ok(worst >= 0.8 * (kbps / 8) * WINDOW_MS, "and most of the budget is used");
  t.ok(f.fanout.counters.framesHeldBack > 0, `held-back frames counted (${f.fanout.counters.framesHeldBack})`);

  // No symbol starves: while the feed runs, each is delivered again within a few seconds.
  const lastSeen = new Map<string, number>();
  const lastDuringFeed = new Map<string, number>();
  const latest = new Map<string, number>();
  let worstGap = 0;
  let backwards = 0;
  for (const w of sink.writes) {
    for (const [name, data] of events(w.bytes.toString())) {
      for (const q of data) {
        if (name === "quotes" && w.at <= 60_000) worstGap = Math.max(worstGap, w.at - (lastSeen.get(q.sym) ?? 0));
        lastSeen.set(q.sym, w.at);
        if (w.at <= 60_000) lastDuringFeed.set(q.sym, w.at);
        if (q.seq <= (latest.get(q.sym) ?? 0)) backwards++;
        latest.set(q.sym, q.seq);
      }
    }
  }
  // Waiting at the end of the feed counts too.
  for (const sym of SYMS) worstGap = Math.max(worstGap, 60_000 - (lastDuringFeed.get(sym) ?? 0));
  t.equal(backwards, 0, "a symbol's quotes only move forward");
  t.equal(lastSeen.size, SYMS.length, "every symbol was delivered");
  t.ok(worstGap <= 5_000, `longest wait of a symbol between deliveries: ${worstGap} ms`);
  t.same(Object.fromEntries(latest), Object.fromEntries(f.seqs), "after the quiet period it holds every latest value");
  t.equal(f.fanout.owedCount, 0, "and is owed nothing");
});

t.test("fanout budget - a budget that suffices changes nothing: the group's frames are shared", async (t) => {
  const f = setup();
  const plain = new TimedSink();
  const budgeted = new TimedSink();
  f.fanout.open(SYMS, 50, undefined, plain, 0);
  f.fanout.open(SYMS, 50, undefined, budgeted, 0, { maxKbps: 100_000 });
  run(f, [plain, budgeted], 5_000, 5_100);
  t.same(budgeted.all.toString(), plain.all.toString(), "the same bytes");
  t.equal(f.fanout.counters.framesHeldBack, 0);
  t.equal(f.fanout.counters.framesBuilt, 100, "one frame per tick, for both");
});

t.test("fanout budget - heartbeats still reach a connection held back by its budget", async (t) => {
  const f = setup();
  for (const sym of SYMS) f.quote(sym);
  const sink = new TimedSink();
  f.fanout.open(SYMS, 50, undefined, sink, 0, { maxKbps: 0.5 }); // 62.5 bytes/s: the snapshot alone is a 30 s debt
  run(f, [sink], 3_000, 3_000);
  const before = sink.writes.length;
  sink.now = 3_000;
  f.fanout.heartbeat(3_000);
  t.equal(sink.writes.length, before + 1);
  t.equal(sink.writes.at(-1)!.bytes.toString(), ":\n\n");
});

t.test("fanout gzip - a frame shared by a group is compressed once, and every member's stream is valid gzip", async (t) => {
  const f = setup();
  const plain = new TimedSink();
  const raw = [new TimedSink(), new TimedSink(), new TimedSink()];
  f.fanout.open(SYMS, 50, undefined, plain, 0);
  const gz = raw.map((r) => new GzipSink(r, f.fanout.deflater));
  for (const g of gz) f.fanout.open(SYMS, 50, undefined, g, 0);
  const blocksAtStart = f.fanout.deflater.blocks; // the three snapshots
  run(f, [plain, ...raw], 1_000, 1_000);
  t.equal(f.fanout.counters.framesBuilt, 20);
  t.equal(f.fanout.deflater.blocks - blocksAtStart, 20, "one compression per frame built, not per member");
  f.fanout.heartbeat(5_000);
  for (const g of gz) g.end();
  for (const r of raw) {
    const text = zlib.gunzipSync(r.all).toString();
    t.equal(text, plain.all.toString(), "each gzip stream decompresses to the plain stream's bytes");
    const wire = r.all.length;
    t.ok(wire < 0.5 * plain.all.length, `compressed ${wire} of ${plain.all.length} bytes`);
  }
  const bytesSent = f.fanout.counters.bytesSent;
  t.ok(bytesSent < plain.all.length * 2.6, "bytes_sent counts compressed bytes for the gzip streams");
});

t.test("fanout gzip - under the same budget a gzip stream carries more quotes, within its budget on the wire", async (t) => {
  const f = setup();
  for (const sym of SYMS) f.quote(sym);
  const plain = new TimedSink();
  const raw = new TimedSink();
  const kbps = 16;
  f.fanout.open(SYMS, 50, undefined, plain, 0, { maxKbps: kbps });
  f.fanout.open(SYMS, 50, undefined, new GzipSink(raw, f.fanout.deflater), 0, { maxKbps: kbps });
  run(f, [plain, raw], 30_000, 30_000);
  const quotes = (text: string) => events(text).filter(([name]) => name === "quotes").reduce((n, [, d]) => n + d.length, 0);
  const inPlain = quotes(plain.all.toString());
  // The gzip stream has no end yet: decompress what arrived.
  const inGzip = quotes(zlib.gunzipSync(raw.all, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString());
  // Frames sized by the stream's compression ratio: about 8.7 times here; sized by the
  // uncompressed bound instead, about 2 times.
  t.ok(inGzip > 4 * inPlain, `quotes delivered: gzip ${inGzip}, plain ${inPlain}`);
  const worst = worstWindow(raw, WINDOW_MS);
  t.ok(worst <= (kbps / 8) * WINDOW_MS, `gzip worst 10 s on the wire: ${worst} bytes, budget ${(kbps / 8) * WINDOW_MS}`);
});
