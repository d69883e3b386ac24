// The gap reader (src/ingest/gap-reader.ts): the rule with a scripted stream, then the reads against a
// real nats-server 2.9 (a stream that keeps one message per subject, so most sequences of a gap
// are gone).
import t from "tap";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import pino from "pino";
import { GapRead, GAP_LIMITS, streamReader, type GapLimits, type GapState, type ReadFrom, type StoredQuote } from "../src/ingest/gap-reader.js";
import { ensureQuoteStream } from "../src/ingest/quote-stream.js";
import { startNatsServer } from "./helpers/nats-server.js";

const silent = pino({ level: "silent" });
const enc = new TextEncoder();
const dec = new TextDecoder();
const noWait = () => Promise.resolve();

/** A stream as a sorted list of stored messages; `readFrom` answers as nats-server does. */
function scripted(seqs: number[]): { stored: StoredQuote[]; readFrom: ReadFrom; asked: number[] } {
  const stored = seqs.map((seq) => ({ seq, subject: `quotes.S${seq}`, data: enc.encode(String(seq)) }));
  const asked: number[] = [];
  const readFrom: ReadFrom = async (seq) => {
    asked.push(seq);
    return stored.find((m) => m.seq >= seq) ?? null;
  };
  return { stored, readFrom, asked };
}

/** Last values reduced to what the reader sees: the high-water mark and the messages applied. */
function sink(highWater: number): GapState & { readonly applied: number[]; hw: number; live: boolean } {
  const s = {
    applied: [] as number[],
    hw: highWater,
    live: true,
    highWater: () => s.hw,
    apply: (m: StoredQuote) => {
      if (m.seq <= s.hw) throw new Error(`applied ${m.seq} at or below the high-water mark ${s.hw}`);
      s.applied.push(m.seq);
      s.hw = m.seq;
    },
    current: () => s.live,
  };
  return s;
}

t.test("gap-reader - reads from just after the high-water mark to the target, skipping deleted sequences", async (t) => {
  const { readFrom, asked } = scripted([3, 7, 8, 15, 20, 31]);
  const state = sink(5);
  const gap = new GapRead(readFrom, state, GAP_LIMITS, noWait);
  gap.announce(20);
  const r = await gap.run();
  t.equal(r.outcome, "filled");
  t.same(state.applied, [7, 8, 15, 20], "every stored message in the gap, in order, and none past the target");
  t.equal(state.hw, 20);
  t.ok(asked.every((s) => s > 5), "nothing below the gap was asked for");
});

t.test("gap-reader - live messages applied meanwhile are not applied again; announced ones are asked for at once", async (t) => {
  const { stored } = scripted([10, 11, 12, 13, 14]);
  const asked: number[] = [];
  const state = sink(9);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const readFrom: ReadFrom = async (seq) => {
    asked.push(seq);
    if (seq === 10) await held;
    return stored.find((m) => m.seq >= seq) ?? null;
  };
  const gap = new GapRead(readFrom, state, GAP_LIMITS, noWait);
  gap.announce(12);
  const run = gap.run();
  await new Promise((r) => setImmediate(r));
  gap.announce(13);
  gap.announce(14);
  t.same([...asked].sort((a, b) => a - b), [10, 12, 13, 14], "the first of the gap and every announced sequence, in flight together");
  // Sequence 10 arrives live, in order, while its read is under way.
  state.hw = 10;
  release();
  const r = await run;
  t.equal(r.outcome, "filled");
  t.same(state.applied, [11, 12, 13, 14], "applied in stream order, the live one not again");
});

t.test("gap-reader - a replica a little behind: asks again; a target that never comes: short", async (t) => {
  const behind = scripted([4, 6]);
  let calls = 0;
  const lagging: ReadFrom = async (seq) => (++calls <= 2 ? null : behind.readFrom(seq));
  const s1 = sink(3);
  const g1 = new GapRead(lagging, s1, GAP_LIMITS, noWait);
  g1.announce(6);
  t.equal((await g1.run()).outcome, "filled", "two empty answers, then the replica caught up");
  t.same(s1.applied, [4, 6]);

  const forged = scripted([4, 6]);
  const s2 = sink(3);
  const g2 = new GapRead(forged.readFrom, s2, GAP_LIMITS, noWait);
  g2.announce(50);
  const r2 = await g2.run();
  t.equal(r2.outcome, "short", "the stream has no sequence 50");
  t.same(s2.applied, [4, 6], "what the stream holds is applied all the same");
  // 50 (asked when announced), 4, 6, then the empty answers.
  t.equal(r2.reads, 3 + GAP_LIMITS.misses + 1, "bounded");
});

t.test("gap-reader - too wide, too many reads, a failed read, a stop", async (t) => {
  const { readFrom, asked } = scripted([1, 2, 3]);
  const wide = new GapRead(readFrom, sink(0), GAP_LIMITS, noWait);
  wide.announce(GAP_LIMITS.maxSequences + 1);
  t.equal((await wide.run()).outcome, "too-large");
  t.same(asked, [], "a gap too wide is not read at all");

  const every = scripted(Array.from({ length: 100 }, (_, i) => i + 1));
  const limits: GapLimits = { ...GAP_LIMITS, maxReads: 10 };
  const many = new GapRead(every.readFrom, sink(0), limits, noWait);
  many.announce(100);
  const r = await many.run();
  t.equal(r.outcome, "too-large");
  t.equal(r.reads, 10);

  const failing = new GapRead(() => Promise.reject(new Error("503 no responders")), sink(0), GAP_LIMITS, noWait);
  failing.announce(2);
  const f = await failing.run();
  t.equal(f.outcome, "failed");
  t.match(f.error?.message, /no responders/);

  const state = sink(0);
  const stopping = new GapRead(async (seq) => {
    state.live = false;
    return every.readFrom(seq);
  }, state, GAP_LIMITS, noWait);
  stopping.announce(5);
  t.equal((await stopping.run()).outcome, "stopped");
  t.same(state.applied, [], "nothing applied once the read is no longer current");
});

async function quotes(nc: NatsConnection, syms: string[], rounds: number): Promise<void> {
  const js = jetstream(nc);
  for (let r = 0; r < rounds; r++) for (const sym of syms) await js.publish(`quotes.${sym}`, JSON.stringify({ sym, ts: Date.now(), seq: r + 1 }));
}

t.test("gap-reader - on nats-server: direct gets and the leader's MSG.GET read a gap of mostly deleted sequences", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const info = await ensureQuoteStream(nc, silent);
  t.equal(info.config.allow_direct, true, "quotecast creates the stream with allow_direct");
  await quotes(nc, ["GA", "GB", "GC"], 2);
  const jsm = await jetstreamManager(nc);
  const before = (await jsm.streams.info("QUOTES")).state.last_seq;
  // 3 symbols, 10 rounds: 30 sequences, of which the stream keeps the last 3.
  await quotes(nc, ["GA", "GB", "GC"], 10);
  const last = (await jsm.streams.info("QUOTES")).state.last_seq;
  t.equal(last - before, 30);
  for (const direct of [true, false]) {
    const state = sink(before);
    const seen: string[] = [];
    const read = streamReader(jsm, direct);
    const gap = new GapRead(read, {
      ...state,
      apply: (m) => {
        seen.push(`${m.subject} ${dec.decode(m.data)}`);
        state.apply(m);
      },
    });
    gap.announce(last);
    const r = await gap.run();
    t.equal(r.outcome, "filled", direct ? "direct get" : "STREAM.MSG.GET");
    t.same(state.applied, [last - 2, last - 1, last], "only the three messages still stored");
    t.ok(r.reads <= 3, `one read per stored message (${r.reads})`);
    t.match(seen.join("\n"), /quotes\.GA \{"sym":"GA".*"seq":10\}/, "with their subject and payload");
    t.equal(await read(last + 1), null, "past the end: nothing");
  }
  const beyond = new GapRead(streamReader(jsm, true), sink(before), GAP_LIMITS);
  beyond.announce(before + GAP_LIMITS.maxSequences + 1);
  const wide = await beyond.run();
  t.equal(wide.outcome, "too-large", "a gap wider than the bound is left to the catch-up consumer");
  t.equal(wide.reads, 0, "without a read");
});

t.test("gap-reader - on nats-server: a stream without allow_direct gets it from ensureQuoteStream; before, direct gets fail", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const older = { name: "QUOTES", subjects: ["quotes.>"], max_msgs_per_subject: 1, republish: { src: "quotes.>", dest: "qc.live.quotes.>" } } satisfies Partial<StreamConfig>;
  await jsm.streams.add(older);
  await quotes(nc, ["GD"], 2);
  // JetStream's API import takes the request, and nobody answers it: it times out.
  const gap = new GapRead(streamReader(await jetstreamManager(nc, { timeout: 500, checkAPI: false }), true), sink(0), GAP_LIMITS);
  gap.announce(2);
  const r = await gap.run();
  t.equal(r.outcome, "failed", "no replica answers direct gets: the caller goes to its consumer");
  t.match(r.error?.name, /Timeout|NoResponders/, `${r.error?.name}: ${r.error?.message}`);
  const logs: string[] = [];
  const info = await ensureQuoteStream(nc, pino({ level: "info" }, { write: (line: string) => logs.push(line) }));
  t.equal(info.config.allow_direct, true, "turned on, data kept");
  t.match(logs.join(""), /now allows direct gets/);
  t.equal(info.state.last_seq, 2);
  const after = sink(0);
  const again = new GapRead(streamReader(jsm, true), after, GAP_LIMITS);
  again.announce(2);
  t.equal((await again.run()).outcome, "filled");
  t.same(after.applied, [2]);
});
