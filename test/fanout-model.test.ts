// The fan-out against its rules, under random sequences of subscriptions, quotes, ticks (whole,
// or in slices with anything else between two slices), congestion, drains and departures
// (fast-check). Whatever the order, every connection:
// - gets each symbol's quotes in stream order, never one it already has, never an older one;
// - gets only its own symbols, each at most once per event;
// - gets no two quotes events closer together than its interval;
// - is never written to between a write that reported congestion and `onWritable`;
// - ends holding the latest value of every symbol it subscribed to.
import t from "tap";
import fc from "fast-check";
import { LastValues } from "../src/feed/last-values.js";
import type { Connection, Sink } from "../src/stream/connection.js";
import { Fanout } from "../src/stream/fanout.js";

const UNIVERSE = ["A", "B", "C", "D", "E", "F"];
const EPOCH = "m";

class ModelSink implements Sink {
  /** Latest stream seq seen per symbol. */
  readonly held = new Map<string, number>();
  readonly problems: string[] = [];
  lastQuotesAt = Number.NEGATIVE_INFINITY;
  blocked = false;
  congestNext = false;
  closed = false;
  constructor(
    readonly name: string,
    readonly symbols: readonly string[],
    readonly intervalMs: number,
    readonly clock: { now: number },
  ) {}
  write(chunk: Uint8Array | string): boolean {
    if (this.blocked) this.problems.push(`${this.name}: written while congested`);
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    if (text.startsWith("id: ")) this.#event(text);
    if (this.congestNext) {
      this.congestNext = false;
      this.blocked = true;
      return false;
    }
    return true;
  }
  #event(text: string): void {
    const [, eventLine, dataLine] = text.split("\n");
    const event = eventLine!.slice("event: ".length);
    const quotes = JSON.parse(dataLine!.slice("data: ".length)) as { sym: string; seq: number }[];
    if (event === "quotes") {
      if (quotes.length === 0) this.problems.push(`${this.name}: empty quotes event`);
      const gap = this.clock.now - this.lastQuotesAt;
      if (gap < this.intervalMs) this.problems.push(`${this.name}: quotes events ${gap} ms apart, interval ${this.intervalMs}`);
      this.lastQuotesAt = this.clock.now;
    }
    const inEvent = new Set<string>();
    for (const q of quotes) {
      if (!this.symbols.includes(q.sym)) this.problems.push(`${this.name}: got ${q.sym}, not subscribed`);
      if (inEvent.has(q.sym)) this.problems.push(`${this.name}: ${q.sym} twice in one event`);
      inEvent.add(q.sym);
      const had = this.held.get(q.sym) ?? 0;
      if (q.seq <= had) this.problems.push(`${this.name}: ${q.sym} seq ${q.seq} after ${had} (${event})`);
      this.held.set(q.sym, q.seq);
    }
  }
  close(): void {
    this.closed = true;
  }
  end(): void {
    this.closed = true;
  }
}

type Op =
  | { kind: "open"; symbols: string[]; intervalMs: number }
  | { kind: "quote"; sym: string }
  | { kind: "tick"; advance: number; frames: number | null }
  | { kind: "slice"; frames: number }
  | { kind: "congest"; who: number }
  | { kind: "writable"; who: number }
  | { kind: "remove"; who: number }
  | { kind: "heartbeat" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("open" as const), symbols: fc.subarray(UNIVERSE, { minLength: 1 }), intervalMs: fc.constantFrom(50, 50, 120) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("quote" as const), sym: fc.constantFrom(...UNIVERSE) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tick" as const), advance: fc.integer({ min: 5, max: 130 }), frames: fc.option(fc.integer({ min: 1, max: 3 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("slice" as const), frames: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("congest" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("writable" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "heartbeat" as const }) },
);

function run(ops: readonly Op[], loadedAt: number): string[] {
  const clock = { now: 0 };
  const values = new LastValues();
  const fanout = new Fanout(values, { heartbeatMs: 200, heartbeatSweepMs: 50, slowConsumerMs: 1_000_000 });
  const conns: { conn: Connection; sink: ModelSink }[] = [];
  let seq = 0;
  ops.forEach((o, i) => {
    if (i === loadedAt) fanout.markLoaded(EPOCH, clock.now);
    const target = conns.length === 0 || !("who" in o) ? undefined : conns[o.who % conns.length]!;
    switch (o.kind) {
      case "open": {
        const sink = new ModelSink(`conn${conns.length}[${o.symbols}]/${o.intervalMs}`, o.symbols, o.intervalMs, clock);
        conns.push({ conn: fanout.open(o.symbols, o.intervalMs, undefined, sink, clock.now), sink });
        break;
      }
      case "quote": {
        seq++;
        const v = values.apply(o.sym, JSON.stringify({ sym: o.sym, seq }), seq, 0);
        if (v !== undefined) fanout.onQuote(v);
        break;
      }
      case "tick":
        // As the worker does it: a tick still running finishes before time moves on to the next.
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
  });
  if (loadedAt >= ops.length) fanout.markLoaded(EPOCH, clock.now);
  // Settle: every socket drains, and time passes beyond every interval.
  for (const { conn, sink } of conns) {
    sink.congestNext = false;
    if (sink.blocked) {
      sink.blocked = false;
      fanout.onWritable(conn);
    }
  }
  fanout.runTick(Infinity);
  for (let i = 0; i < 3; i++) {
    clock.now += 200;
    fanout.tick(clock.now);
  }
  const problems = conns.flatMap(({ sink }) => sink.problems);
  for (const { conn, sink } of conns) {
    if (conn.state === "closed") continue;
    for (const sym of sink.symbols) {
      const want = values.get(sym)?.streamSeq;
      if (sink.held.get(sym) !== want) problems.push(`${sink.name}: ends with ${sym} at ${sink.held.get(sym)}, latest is ${want}`);
    }
  }
  return problems;
}

t.test("fanout-model - random subscriptions, quotes, ticks, congestion and departures keep every rule", async (t) => {
  // A fixed seed keeps CI reproducible; QC_FC_SEED and QC_FC_RUNS explore further by hand.
  const runs = Number(process.env.QC_FC_RUNS ?? 3000);
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), fc.nat({ max: 10 }), (ops, loadedAt) => {
      const problems = run(ops, loadedAt);
      if (problems.length > 0) throw new Error(problems.slice(0, 5).join("\n"));
    }),
    { numRuns: runs, seed: Number(process.env.QC_FC_SEED ?? 20261126) },
  );
  t.pass(`${runs} random histories`);
});

t.test("fanout-model - the model's checks fire", async (t) => {
  const problems = run([{ kind: "open", symbols: ["A"], intervalMs: 50 }, { kind: "quote", sym: "A" }], 0);
  t.same(problems, [], "the honest fan-out passes");
  const sink = new ModelSink("x", ["A"], 50, { now: 0 });
  sink.write('id: m-2\nevent: quotes\ndata: [{"sym":"A","seq":2}]\n\n');
  sink.write('id: m-2\nevent: quotes\ndata: [{"sym":"A","seq":1}]\n\n');
  t.match(sink.problems.join("\n"), /A seq 1 after 2/, "an older quote is caught");
  t.match(sink.problems.join("\n"), /0 ms apart/, "a second event inside the interval is caught");
  // The history the model first failed on: a heartbeat congested a connection still waiting for
  // the last values, whose snapshot was then written to it at once.
  const parked = run([{ kind: "open", symbols: ["F"], intervalMs: 50 }, { kind: "tick", advance: 74 }, { kind: "congest", who: 0 }, { kind: "tick", advance: 76 }, { kind: "heartbeat" }, { kind: "quote", sym: "F" }], 6);
  t.same(parked, [], "a snapshot waits for a congested socket to drain");
  // A connection that caught up on its own between two of its group's frames keeps its interval.
  const q = { kind: "quote", sym: "A" } as const;
  const tick = (advance: number) => ({ kind: "tick", advance, frames: null }) as const;
  const caughtUp = run([{ kind: "open", symbols: ["A"], intervalMs: 50 }, q, tick(60), { kind: "congest", who: 0 }, q, tick(60), q, tick(60), { kind: "writable", who: 0 }, tick(60), q, tick(20)], 0);
  t.same(caughtUp, [], "its own frame and its group's are an interval apart");
});
