// The fan-out against its rules, under random sequences of subscriptions, quotes, ticks (whole,
// or in slices with anything else between two slices), congestion, drains and departures
// (fast-check). Whatever the order, every connection:
// - gets each symbol's quotes in stream order, never one it already has, never an older one;
// - gets only its own symbols, each at most once per event;
// - gets no two quotes events closer together than its interval;
// - is never written to between a write that reported congestion and `onWritable`;
// - ends holding the latest value of every symbol it subscribed to.
// Connections ask for full quotes or for field deltas (delta=1); quotes drop and add fields at
// random, and clients reconnect with the last id they saw, to the same worker or to another
// one. A delta client merges (Object.assign, null deletes) over its snapshot, and must end
// holding exactly the latest quote of every symbol.
import t from "tap";
import fc from "fast-check";
import { LastValues } from "../src/ingest/last-values.js";
import type { Connection, Sink } from "../src/fanout/connection.js";
import { Fanout } from "../src/fanout/fanout.js";
import { ModelClient } from "./helpers/model-client.js";

const UNIVERSE = ["A", "B", "C", "D", "E", "F"];
const EPOCH = "m";

class ModelSink extends ModelClient implements Sink {
  blocked = false;
  congestNext = false;
  closed = false;
  write(chunk: Uint8Array | string): boolean {
    if (this.blocked) this.problems.push(`${this.name}: written while congested`);
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    if (text.startsWith("id: ")) this.receive(text);
    if (this.congestNext) {
      this.congestNext = false;
      this.blocked = true;
      return false;
    }
    return true;
  }
  close(): void {
    this.closed = true;
  }
  end(): void {
    this.closed = true;
  }
}

type Op =
  | { kind: "open"; symbols: readonly string[]; intervalMs: number; delta: boolean; worker: number }
  | { kind: "quote"; sym: string; fields: { a: number | null; b: number | null; c: number | string | null } }
  | { kind: "reconnect"; who: number; worker: number }
  | { kind: "tick"; advance: number; frames: number | null }
  | { kind: "slice"; frames: number }
  | { kind: "congest"; who: number }
  | { kind: "writable"; who: number }
  | { kind: "remove"; who: number }
  | { kind: "heartbeat" };

// Often one of a few lists, so that groups have several members who fall out of step and back.
const subscription = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(["A"], ["A", "B"]) }, { weight: 1, arbitrary: fc.subarray(UNIVERSE, { minLength: 1 }) });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("open" as const), symbols: subscription, intervalMs: fc.constantFrom(50, 50, 120), delta: fc.constantFrom(true, true, false), worker: fc.constantFrom(0, 0, 1) }) },
  // Few values per field, often absent: fields stay, change, vanish and come back.
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("quote" as const), sym: fc.constantFrom(...UNIVERSE), fields: fc.record({ a: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 4 }), b: fc.option(fc.integer({ min: 0, max: 1 }), { freq: 3 }), c: fc.option(fc.constantFrom(0, 1, "x"), { freq: 2 }) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reconnect" as const), who: fc.nat(), worker: fc.constantFrom(0, 1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tick" as const), advance: fc.integer({ min: 5, max: 130 }), frames: fc.option(fc.integer({ min: 1, max: 3 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("slice" as const), frames: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("congest" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("writable" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "heartbeat" as const }) },
);

interface Worker {
  readonly values: LastValues;
  readonly fanout: Fanout;
  /** Quotes of the feed's log applied so far: worker 1 reads the feed late, in batches. */
  applied: number;
}

function run(ops: readonly Op[], loadedAt: number): string[] {
  const clock = { now: 0 };
  const workers: Worker[] = [0, 1].map(() => {
    const values = new LastValues();
    return { values, fanout: new Fanout(values, { heartbeatMs: 200, heartbeatSweepMs: 50, slowConsumerMs: 1_000_000 }), applied: 0 };
  });
  const feed: { sym: string; json: string }[] = [];
  const catchUp = (w: Worker) => {
    for (; w.applied < feed.length; w.applied++) {
      const q = feed[w.applied]!;
      const v = w.values.apply(q.sym, q.json, w.applied + 1, 0);
      if (v !== undefined) w.fanout.onQuote(v);
    }
  };
  const conns: { conn: Connection; sink: ModelSink; worker: Worker }[] = [];
  const open = (w: Worker, symbols: readonly string[], intervalMs: number, delta: boolean, resumeId: string | undefined): ModelSink => {
    const sink = new ModelSink(`conn${conns.length}[${symbols}]/${intervalMs}${delta ? "/delta" : ""}@${workers.indexOf(w)}`, symbols, intervalMs, clock, delta);
    // A worker that takes a resume is as far along the feed as the id (see the README on resume).
    if (resumeId !== undefined) catchUp(w);
    conns.push({ conn: w.fanout.open(symbols, intervalMs, resumeId, sink, clock.now, { delta }), sink, worker: w });
    return sink;
  };
  ops.forEach((o, i) => {
    if (i === loadedAt) for (const w of workers) w.fanout.markLoaded(EPOCH, clock.now);
    const target = conns.length === 0 || !("who" in o) ? undefined : conns[o.who % conns.length]!;
    switch (o.kind) {
      case "open":
        open(workers[o.worker]!, o.symbols, o.intervalMs, o.delta, undefined);
        break;
      case "quote": {
        const q: Record<string, unknown> = { sym: o.sym, seq: feed.length + 1 };
        for (const [k, v] of Object.entries(o.fields)) if (v !== null) q[k] = v;
        feed.push({ sym: o.sym, json: JSON.stringify(q) });
        catchUp(workers[0]!);
        break;
      }
      case "reconnect": {
        if (target === undefined || target.conn.state === "closed") break;
        // The client loses its connection and comes back with the last id it saw, its state intact.
        target.worker.fanout.remove(target.conn);
        const old = target.sink;
        const sink = open(workers[o.worker]!, [...old.symbols], old.intervalMs, old.delta, old.lastId);
        for (const [sym, q] of old.state) if (!sink.state.has(sym)) sink.state.set(sym, q);
        for (const [sym, n] of old.held) if (!sink.held.has(sym)) sink.held.set(sym, n);
        break;
      }
      case "tick":
        catchUp(workers[1]!);
        for (const { fanout } of workers) {
          // As the worker does it: a tick still running finishes before time moves on to the next.
          fanout.runTick(Infinity);
        }
        clock.now += o.advance;
        for (const { fanout } of workers) {
          fanout.beginTick(clock.now);
          fanout.runTick(o.frames ?? Infinity);
        }
        break;
      case "slice":
        for (const { fanout } of workers) fanout.runTick(o.frames);
        break;
      case "congest":
        if (target !== undefined) target.sink.congestNext = true;
        break;
      case "writable":
        if (target !== undefined && target.sink.blocked) {
          target.sink.blocked = false;
          target.worker.fanout.onWritable(target.conn);
        }
        break;
      case "remove":
        if (target !== undefined) target.worker.fanout.remove(target.conn);
        break;
      case "heartbeat":
        for (const { fanout } of workers) fanout.heartbeat(clock.now);
        break;
    }
  });
  if (loadedAt >= ops.length) for (const w of workers) w.fanout.markLoaded(EPOCH, clock.now);
  catchUp(workers[1]!);
  // Settle: every socket drains, and time passes beyond every interval.
  for (const { conn, sink, worker } of conns) {
    sink.congestNext = false;
    if (sink.blocked) {
      sink.blocked = false;
      worker.fanout.onWritable(conn);
    }
  }
  for (const { fanout } of workers) fanout.runTick(Infinity);
  for (let i = 0; i < 3; i++) {
    clock.now += 200;
    for (const { fanout } of workers) fanout.tick(clock.now);
  }
  const problems = conns.flatMap(({ sink }) => sink.problems);
  const values = workers[0]!.values;
  for (const { conn, sink } of conns) {
    if (conn.state === "closed") continue;
    problems.push(...sink.finalProblems(values));
  }
  return problems;
}

t.test("fanout-model - random subscriptions, quotes, ticks, congestion and departures keep every rule", async (t) => {
  // A fixed seed keeps CI reproducible; QC_FC_SEED and QC_FC_RUNS explore further by hand.
  const runs = Number(process.env.QC_FC_RUNS ?? 3000);
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80, size: "medium" }), fc.nat({ max: 10 }), (ops, loadedAt) => {
      const problems = run(ops, loadedAt);
      if (problems.length > 0) throw new Error(problems.slice(0, 5).join("\n"));
    }),
    { numRuns: runs, seed: Number(process.env.QC_FC_SEED ?? 20261126) },
  );
  t.pass(`${runs} random histories`);
});

const NO_FIELDS = { a: null, b: null, c: null };
const openA = (delta = false) => ({ kind: "open", symbols: ["A"], intervalMs: 50, delta, worker: 0 }) as const;
const quoteOf = (sym: string, fields: Partial<{ a: number; b: number; c: number | string }> = {}) => ({ kind: "quote", sym, fields: { ...NO_FIELDS, ...fields } }) as const;

t.test("fanout-model - the model's checks fire", async (t) => {
  const problems = run([openA(), quoteOf("A")], 0);
  t.same(problems, [], "the honest fan-out passes");
  const sink = new ModelSink("x", ["A"], 50, { now: 0 });
  sink.write('id: m-2\nevent: quotes\ndata: [{"sym":"A","seq":2}]\n\n');
  sink.write('id: m-2\nevent: quotes\ndata: [{"sym":"A","seq":1}]\n\n');
  t.match(sink.problems.join("\n"), /A seq 1 after 2/, "an older quote is caught");
  t.match(sink.problems.join("\n"), /0 ms apart/, "a second event inside the interval is caught");
  const d = new ModelSink("d", ["A"], 50, { now: 0 }, true);
  d.write('id: m-1\nevent: snapshot\ndata: [{"sym":"A","seq":1,"a":1,"b":2}]\n\n');
  d.write('id: m-2\nevent: delta\ndata: [{"sym":"A","seq":2,"a":null}]\n\n');
  t.same(d.state.get("A"), { sym: "A", seq: 2, b: 2 }, "a delta client merges, null deletes");
  d.write('id: m-3\nevent: quotes\ndata: [{"sym":"A","seq":3}]\n\n');
  t.match(d.problems.join("\n"), /event quotes/, "a delta client given a quotes event is caught");
  // The history the model first failed on: a heartbeat congested a connection still waiting for
  // the last values, whose snapshot was then written to it at once.
  const parked = run([{ ...openA(), symbols: ["F"] }, { kind: "tick", advance: 74, frames: null }, { kind: "congest", who: 0 }, { kind: "tick", advance: 76, frames: null }, { kind: "heartbeat" }, quoteOf("F")], 6);
  t.same(parked, [], "a snapshot waits for a congested socket to drain");
  // A connection that caught up on its own between two of its group's frames keeps its interval.
  const q = quoteOf("A");
  const tick = (advance: number) => ({ kind: "tick", advance, frames: null }) as const;
  const caughtUp = run([openA(), q, tick(60), { kind: "congest", who: 0 }, q, tick(60), q, tick(60), { kind: "writable", who: 0 }, tick(60), q, tick(20)], 0);
  t.same(caughtUp, [], "its own frame and its group's are an interval apart");
  // Delta histories the model failed on while the delta mode was written: a member whose
  // snapshot already held the latest value was sent a replacement object of it again.
  t.same(run([{ ...openA(true), symbols: ["D"] }, quoteOf("D")], 2), [], "a replacement object is not sent to a member that holds the latest");
});

t.test("fanout-model - delta clients reconnecting to another worker end with the latest quotes", async (t) => {
  const tick = (advance: number) => ({ kind: "tick", advance, frames: null }) as const;
  const problems = run([openA(true), quoteOf("A", { a: 1, b: 1 }), tick(60), quoteOf("A", { a: 2 }), { kind: "reconnect", who: 0, worker: 1 }, quoteOf("A", { b: 1, c: "x" }), tick(60), { kind: "reconnect", who: 1, worker: 0 }, quoteOf("A", { c: "x" }), tick(60)], 0);
  t.same(problems, []);
});

t.test("fanout-model - a member that joined after its group's last frame gets deltas from what its snapshot held", async (t) => {
  const tick = (advance: number) => ({ kind: "tick", advance, frames: null }) as const;
  const problems = run([openA(true), quoteOf("A", { a: 1 }), tick(60), quoteOf("A", { a: 2 }), openA(true), quoteOf("A", { a: 1 }), tick(60)], 0);
  t.same(problems, []);
});
