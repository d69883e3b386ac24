// The fan-out with bandwidth budgets and gzip streams against its rules, under random sequences
// of subscriptions, quotes, whole and sliced ticks, congestion, departures and heartbeats
// (fast-check), as test/fanout-model.test.ts does for plain connections. Every connection, with
// or without a budget, compressed or not:
// - gets each symbol's quotes in stream order, never one it already has, only its own symbols;
// - gets no two quotes events closer together than its interval;
// - is never written to between a write that reported congestion and `onWritable`;
// - ends holding the latest value of every symbol it subscribed to.
// Connections ask for full quotes or for field deltas (delta=1), and quotes drop and add fields at
// random: a delta client merges (Object.assign, null deletes) over its snapshot, and must end
// holding exactly the latest quote of every symbol, as in test/fanout-model.test.ts.
// A gzip connection's every write after the header is a block that decompresses on its own.
// A budgeted connection's bytes (with chunk framing, heartbeats apart) in any 10 s stay within
// 10 s of its budget.
import t from "tap";
import fc from "fast-check";
import zlib from "node:zlib";
import { LastValues } from "../src/ingest/last-values.js";
import { BURST_MS, CHUNK_FRAMING_BYTES, WINDOW_MS } from "../src/fanout/byte-budget.js";
import type { Connection, Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";
import { GZIP_HEADER, GzipSink } from "../src/fanout/gzip-sink.js";
import { HEARTBEAT } from "../src/fanout/sse-frames.js";
import { ModelClient } from "./helpers/model-client.js";

const UNIVERSE = ["A", "B", "C", "D", "E", "F"];
const HEADER = Buffer.from(GZIP_HEADER);
const PAD = "X".repeat(90);

class ModelSink extends ModelClient implements Sink {
  /** Writes other than heartbeats, with their time and bytes on the wire. */
  readonly sent: { at: number; bytes: number }[] = [];
  /** Its largest write on the wire (with chunk framing). */
  largest = 0;
  /** Heartbeats written (charged to the budget, but not in `sent`). */
  heartbeats = 0;
  blocked = false;
  congestNext = false;
  #sawHeader = false;
  constructor(
    name: string,
    symbols: readonly string[],
    intervalMs: number,
    readonly gzip: boolean,
    clock: { now: number },
    delta = false,
  ) {
    super(name, symbols, intervalMs, clock, delta);
  }
  write(chunk: Uint8Array | string): boolean {
    if (this.blocked) this.problems.push(`${this.name}: written while congested`);
    let bytes = Buffer.from(chunk);
    const wire = bytes.length;
    if (this.gzip) {
      if (!this.#sawHeader) {
        if (!bytes.equals(HEADER)) this.problems.push(`${this.name}: first write is not the gzip header`);
        this.#sawHeader = true;
        return true;
      }
      try {
        bytes = zlib.inflateRawSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (err) {
        this.problems.push(`${this.name}: a block that does not decompress on its own: ${(err as Error).message}`);
        return true;
      }
    }
    const text = bytes.toString();
    if (!text.endsWith("\n\n")) {
      this.problems.push(`${this.name}: a write that is not whole events${this.gzip ? " (a block that does not decompress on its own)" : ""}`);
      return true;
    }
    if (text !== HEARTBEAT) this.sent.push({ at: this.clock.now, bytes: wire + CHUNK_FRAMING_BYTES });
    if (text === HEARTBEAT) this.heartbeats++;
    else this.largest = Math.max(this.largest, wire + CHUNK_FRAMING_BYTES);
    if (text.startsWith("id: ")) this.receive(text);
    if (this.congestNext) {
      this.congestNext = false;
      this.blocked = true;
      return false;
    }
    return true;
  }
  close(): void {}
  end(): void {}
  /** Most bytes in any window of `windowMs`. */
  worstWindow(windowMs: number): number {
    let worst = 0;
    const w = this.sent;
    for (let i = 0, j = 0, sum = 0; i < w.length; i++) {
      sum += w[i]!.bytes;
      while (w[i]!.at - w[j]!.at >= windowMs) sum -= w[j++]!.bytes;
      worst = Math.max(worst, sum);
    }
    return worst;
  }
}

type Op =
  | { kind: "open"; symbols: readonly string[]; intervalMs: number; kbps: number; gzip: boolean; delta: boolean }
  | { kind: "quote"; sym: string; fields: { a: number | null; b: number | null; c: number | string | null; venue: boolean } }
  | { kind: "tick"; advance: number; frames: number | null }
  | { kind: "slice"; frames: number }
  | { kind: "congest"; who: number }
  | { kind: "writable"; who: number }
  | { kind: "remove"; who: number }
  | { kind: "heartbeat" };

// Few values per field, often absent: fields stay, change, vanish and come back. The padded
// venue makes a quote about 130 bytes: a full frame of a few symbols exceeds a 1-kbit/s burst,
// and so does a delta frame when venues come and go.
const quote = fc.record({
  kind: fc.constant("quote" as const),
  sym: fc.constantFrom(...UNIVERSE),
  fields: fc.record({
    a: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 4 }),
    b: fc.option(fc.integer({ min: 0, max: 1 }), { freq: 3 }),
    c: fc.option(fc.constantFrom(0, 1, "x"), { freq: 2 }),
    venue: fc.boolean(),
  }),
});

const otherOps = [
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("slice" as const), frames: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("congest" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("writable" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "heartbeat" as const }) },
] as const;

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      symbols: fc.subarray(UNIVERSE, { minLength: 1 }),
      intervalMs: fc.constantFrom(50, 50, 120),
      // 1 kbit/s: a 125-byte burst, so frames of more than two symbols are cut short.
      kbps: fc.constantFrom(0, 1, 1, 1, 2, 8),
      gzip: fc.boolean(),
      delta: fc.boolean(),
    }),
  },
  { weight: 10, arbitrary: quote },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tick" as const), advance: fc.integer({ min: 5, max: 400 }), frames: fc.option(fc.integer({ min: 1, max: 3 })) }) },
  ...otherOps,
);

/**
 * Budgeted delta connections on many symbols, and short ticks: frames cut short by the budget
 * come often, and so do symbols that change again after a cut frame carried them (whose next
 * delta must start from the version that frame carried, not from the connection's last whole
 * frame): about 10,000 such deltas in its 1,500 histories, against about 3,200 in the mix above
 * (and 11 before these histories were "medium" sized, up to 80 ops rather than about 10).
 */
const deltaOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      symbols: fc.subarray(UNIVERSE, { minLength: 3 }),
      intervalMs: fc.constantFrom(50, 50, 120),
      kbps: fc.constantFrom(1, 1, 2),
      gzip: fc.boolean(),
      delta: fc.constant(true),
    }),
  },
  { weight: 10, arbitrary: quote },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("tick" as const), advance: fc.integer({ min: 50, max: 250 }), frames: fc.option(fc.integer({ min: 1, max: 3 })) }) },
  ...otherOps,
);

/** Histories in which some budget held a frame back (the model must reach that case often). */
let heldBackHistories = 0;
let budgetedHistories = 0;
/** The same, for histories with a budgeted delta connection. */
let heldBackDeltaHistories = 0;
let budgetedDeltaHistories = 0;

function run(ops: readonly Op[]): string[] {
  const clock = { now: 0 };
  const values = new LastValues();
  const fanout = new Fanout(values, { heartbeatMs: 1000, heartbeatSweepMs: 100, slowConsumerMs: 1_000_000_000 });
  fanout.markLoaded("m", 0);
  const conns: { conn: Connection; sink: ModelSink; kbps: number; delta: boolean }[] = [];
  let seq = 0;
  for (const o of ops) {
    const target = conns.length === 0 || !("who" in o) ? undefined : conns[o.who % conns.length]!;
    switch (o.kind) {
      case "open": {
        const name = `conn${conns.length}[${o.symbols}]/${o.intervalMs}/${o.kbps}kbps${o.gzip ? "/gzip" : ""}${o.delta ? "/delta" : ""}`;
        const sink = new ModelSink(name, o.symbols, o.intervalMs, o.gzip, clock, o.delta);
        const conn = fanout.open(o.symbols, o.intervalMs, undefined, o.gzip ? new GzipSink(sink, fanout.deflater) : sink, clock.now, { maxKbps: o.kbps, delta: o.delta });
        conns.push({ conn, sink, kbps: o.kbps, delta: o.delta });
        break;
      }
      case "quote": {
        seq++;
        const q: Record<string, unknown> = { sym: o.sym, seq };
        for (const [k, v] of Object.entries(o.fields)) if (v !== null && v !== false) q[k] = v === true ? PAD : v;
        const v = values.apply(o.sym, JSON.stringify(q), seq, 0);
        if (v !== undefined) fanout.onQuote(v);
        break;
      }
      case "tick":
        fanout.runTick(Infinity);
        clock.now += o.advance;
        fanout.beginTick(clock.now);
        fanout.runTick(o.frames ?? Infinity);
        break;
      case "slice":
        fanout.runTick(o.frames);
        break;
      case "congest":
        if (target !== undefined) target.sink.congestNext = true;
        break;
      case "writable":
        if (target !== undefined && target.sink.blocked) {
          target.sink.blocked = false;
          fanout.onWritable(target.conn);
        }
        break;
      case "remove":
        if (target !== undefined) fanout.remove(target.conn);
        break;
      case "heartbeat":
        fanout.heartbeat(clock.now);
        break;
    }
  }
  // Settle: every socket drains, and time passes until nothing is owed (budgets refill).
  for (const { conn, sink } of conns) {
    sink.congestNext = false;
    if (sink.blocked) {
      sink.blocked = false;
      fanout.onWritable(conn);
    }
  }
  fanout.runTick(Infinity);
  for (let i = 0; i < 300 && (i < 3 || fanout.owedCount > 0); i++) {
    clock.now += 200;
    fanout.tick(clock.now);
  }
  if (fanout.counters.framesHeldBack > 0) heldBackHistories++;
  if (conns.some((c) => c.kbps > 0)) budgetedHistories++;
  if (conns.some((c) => c.kbps > 0 && c.delta)) {
    budgetedDeltaHistories++;
    if (fanout.counters.framesHeldBack > 0) heldBackDeltaHistories++;
  }
  const problems = conns.flatMap(({ sink }) => sink.problems);
  for (const { conn, sink, kbps } of conns) {
    if (kbps > 0) {
      // The bucket's bound over any T ms: its burst (one second of budget) plus what it fills in
      // T (90% of the budget); over 10 s that is 10 s of budget, the contract's figure. A
      // snapshot, or a frame of one quote, bigger than the burst must still go whole: the bucket
      // goes into debt for the excess, which is all a window may carry above the bound (with
      // heartbeats, which are written whatever the budget).
      const perMs = kbps / 8;
      const excess = Math.max(0, sink.largest - perMs * BURST_MS) + sink.heartbeats * (HEARTBEAT.length + CHUNK_FRAMING_BYTES);
      for (const windowMs of [1000, WINDOW_MS]) {
        const bound = perMs * BURST_MS + perMs * (1 - BURST_MS / WINDOW_MS) * windowMs + excess;
        const worst = sink.worstWindow(windowMs);
        if (worst > bound + 1e-6) problems.push(`${sink.name}: ${worst} bytes in ${windowMs} ms, bound ${bound}`);
      }
    }
    if (conn.state === "closed") continue;
    problems.push(...sink.finalProblems(values));
  }
  return problems;
}

t.test("fanout-budget-model - random histories with budgets and gzip keep every rule", async (t) => {
  const runs = Number(process.env.QC_FC_RUNS ?? 1500);
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80, size: "medium" }), (ops) => {
      const problems = run(ops);
      if (problems.length > 0) throw new Error(problems.slice(0, 5).join("\n"));
    }),
    { numRuns: runs, seed: Number(process.env.QC_FC_SEED ?? 20261206) },
  );
  t.pass(`${runs} random histories`);
  t.ok(heldBackHistories > budgetedHistories / 10, `a budget held frames back in ${heldBackHistories} of them (${budgetedHistories} with a budgeted connection)`);
  t.ok(heldBackDeltaHistories > budgetedDeltaHistories / 10, `and in ${heldBackDeltaHistories} of the ${budgetedDeltaHistories} with a budgeted delta connection`);
});

t.test("fanout-budget-model - budgeted delta connections cut short end holding the latest quotes", async (t) => {
  const runs = Number(process.env.QC_FC_RUNS ?? 1500);
  heldBackDeltaHistories = budgetedDeltaHistories = 0;
  fc.assert(
    fc.property(fc.array(deltaOp, { maxLength: 80, size: "medium" }), (ops) => {
      const problems = run(ops);
      if (problems.length > 0) throw new Error(problems.slice(0, 5).join("\n"));
    }),
    { numRuns: runs, seed: Number(process.env.QC_FC_SEED ?? 20261206) },
  );
  t.pass(`${runs} random histories`);
  t.ok(heldBackDeltaHistories > budgetedDeltaHistories / 3, `a budget held frames back in ${heldBackDeltaHistories} of the ${budgetedDeltaHistories} with a budgeted delta connection`);
});

t.test("fanout-budget-model - the model's checks fire", async (t) => {
  const clock = { now: 0 };
  const sink = new ModelSink("x", ["A"], 50, false, clock);
  for (let i = 1; i <= 20; i++) sink.write(`id: m-${i}\nevent: quotes\ndata: [{"sym":"A","seq":${i}}]\n\n`);
  t.ok(sink.worstWindow(WINDOW_MS) > 20 * 40, "bytes in a window are summed");
  t.match(sink.problems.join("\n"), /0 ms apart/, "a second event inside the interval is caught");
  const gz = new ModelSink("g", ["A"], 50, true, clock);
  gz.write(HEADER);
  gz.write(zlib.deflateRawSync(Buffer.from('id: m-1\nevent: quotes\ndata: [{"sym":"A","seq":1}]\n\n')).subarray(0, 5));
  t.match(gz.problems.join("\n"), /does not decompress on its own/, "a truncated block is caught");
});

t.test("fanout-budget-model - owed members of a group around a budgeted one get their own frame", async (t) => {
  // Members X, Y (1 kbit/s), Z of one group. A heartbeat congests X and Z; the group's frame of
  // A and B then leaves all three owed, in the order Z, Y, X (Y cannot afford it: its full
  // bucket sends it A alone). Once X and Z drain and Y's bucket is full again, Z gets its own
  // frame of A and B, Y one of B, and X may share Z's frame only if Y's, built between them in
  // the same buffer, has not replaced it (X got Y's B alone, and never A). The random histories
  // above did not reach this order.
  const open = (kbps: number, delta = false) => ({ kind: "open", symbols: ["A", "B"], intervalMs: 50, kbps, gzip: false, delta }) as const;
  const quote = (sym: string) => ({ kind: "quote", sym, fields: { a: 1, b: null, c: null, venue: true } }) as const;
  const tick = (advance: number) => ({ kind: "tick", advance, frames: null }) as const;
  for (const delta of [false, true]) {
    const problems = run([
      open(0, delta),
      open(1, delta),
      open(0, delta),
      tick(1000),
      { kind: "congest", who: 0 },
      { kind: "congest", who: 2 },
      { kind: "heartbeat" },
      quote("A"),
      quote("B"),
      tick(1000),
      { kind: "writable", who: 0 },
      { kind: "writable", who: 2 },
      tick(1600),
    ]);
    t.same(problems, [], delta ? "delta members" : "full members");
  }
});
