// GET /quotes?delta=1 against real servers: one nats-server, quotecast processes (two of them
// for resume across nodes), raw-socket clients.
import t from "tap";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { sleep, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";
import { rawRequest, RawSseClient } from "./helpers/sse-client.js";

let nats: NatsServer;
let qc: Quotecast;
let pub: TestPublisher;

t.before(async () => {
  nats = await startNatsServer();
  qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--workers", "1"] });
  pub = await TestPublisher.connect(nats.url);
});

t.teardown(async () => {
  await pub?.close();
  await qc?.stop();
  await nats?.cleanup();
});

type Obj = Record<string, unknown>;

/** What a delta client holds: snapshots replace a symbol's object, deltas merge (null deletes). */
function merged(c: RawSseClient, into = new Map<string, Obj>(), from = 0): Map<string, Obj> {
  for (const e of c.events.slice(from)) {
    for (const o of JSON.parse(e.data) as Obj[]) {
      const sym = o.sym as string;
      if (e.event !== "delta") {
        into.set(sym, o);
        continue;
      }
      const q = { ...into.get(sym) };
      for (const [k, v] of Object.entries(o)) {
        if (v === null) delete q[k];
        else q[k] = v;
      }
      into.set(sym, q);
    }
  }
  return into;
}

function publish(sym: string, q: Obj): Obj {
  const full = { sym, ...q };
  pub.raw(`quotes.${sym}`, JSON.stringify(full));
  return full;
}

t.test("quotes-delta - the snapshot is full, then each update holds sym and only what changed", async (t) => {
  const first = publish("DLA", { ts: 1, seq: 1, bid: 10.5, ask: 10.52, bsz: 300, asz: 200, last: 10.51, vol: 100, halt: false });
  await pub.flush();
  await sleep(100);
  const c = RawSseClient.open(qc.port, "/quotes?symbols=DLA&delta=1");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  t.equal(c.events[0]!.event, "snapshot");
  t.same(JSON.parse(c.events[0]!.data), [first], "the snapshot holds the full quote");
  publish("DLA", { ts: 2, seq: 2, bid: 10.49, ask: 10.52, bsz: 500, asz: 200, last: 10.51, vol: 100 });
  await c.waitFor(() => c.events.length >= 2, 5000, "a delta event");
  const e = c.events[1]!;
  t.equal(e.event, "delta");
  t.match(e.id, /^[0-9a-z]+-\d+$/, "with an id, as every event");
  t.equal(e.data, '[{"sym":"DLA","ts":2,"seq":2,"bid":10.49,"bsz":500,"halt":null}]', "the exact objects: changed fields in the quote's order, then the vanished one as null");
  const last = publish("DLA", { ts: 3, seq: 3, bid: 10.49, ask: 10.53, bsz: 500, asz: 100, last: 10.51, vol: 100, note: "x" });
  await c.waitFor(() => c.events.length >= 3, 5000, "another delta event");
  t.equal(c.events[2]!.data, '[{"sym":"DLA","ts":3,"seq":3,"ask":10.53,"asz":100,"note":"x"}]');
  t.same(merged(c).get("DLA"), last, "merged over the snapshot: exactly the latest quote");
});

t.test("quotes-delta - delta=0 is the full mode; anything else is a 400 that says what to send", async (t) => {
  const full = RawSseClient.open(qc.port, "/quotes?symbols=DLB&delta=0");
  t.teardown(() => full.close());
  await full.waitFor(() => full.events.length >= 1, 5000, "snapshot");
  publish("DLB", { ts: 1, seq: 1, bid: 1 });
  await full.waitFor(() => full.events.length >= 2, 5000, "quotes event");
  t.equal(full.events[1]!.event, "quotes");
  for (const bad of ["2", "true", "", "1&delta=0"]) {
    const r = await rawRequest(qc.port, "GET", `/quotes?symbols=DLB&delta=${bad}`);
    t.equal(r.status, 400, `delta=${bad}`);
    t.match(JSON.parse(r.body), { error: /^delta must be 0 or 1/ });
  }
});

t.test("quotes-delta - under a busy feed, delta and full clients of the same symbols end with the same quotes", async (t) => {
  const syms = ["DLC1", "DLC2", "DLC3"];
  const path = `/quotes?symbols=${syms.join(",")}`;
  const deltas = [RawSseClient.open(qc.port, path + "&delta=1"), RawSseClient.open(qc.port, path + "&delta=1"), RawSseClient.open(qc.port, path + "&delta=1&interval=200")];
  const full = RawSseClient.open(qc.port, path);
  const all = [...deltas, full];
  t.teardown(() => all.forEach((c) => c.close()));
  for (const c of all) await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  const latest = new Map<string, Obj>();
  // Fields change, vanish and come back, about 600 quotes over a second.
  for (let i = 1; i <= 600; i++) {
    const sym = syms[i % 3]!;
    const q: Obj = { ts: Date.now(), seq: i, bid: 100 + (i % 7) / 100, ask: 100.05 };
    if (i % 5 !== 0) q.bsz = 100 * (i % 4);
    if (i % 11 === 0) q.halt = true;
    latest.set(sym, publish(sym, q));
    if (i % 20 === 0) await sleep(30);
  }
  await pub.flush();
  await sleep(600);
  for (const [i, c] of deltas.entries()) {
    const state = merged(c);
    for (const sym of syms) t.same(state.get(sym), latest.get(sym), `delta client ${i}: ${sym}`);
    t.ok(c.events.slice(1).every((e) => e.event === "delta"), `delta client ${i}: only delta events after the snapshot`);
  }
  const fullState = merged(full);
  for (const sym of syms) t.same(fullState.get(sym), latest.get(sym), `full client: ${sym}`);
  const bytes = (c: RawSseClient) => c.events.slice(1).reduce((n, e) => n + e.data.length, 0);
  t.ok(bytes(deltas[0]!) < bytes(full), `fewer bytes in deltas (${bytes(deltas[0]!)}) than in full quotes (${bytes(full)})`);
});

t.test("quotes-delta - a resume on another node gets full objects, then deltas that merge to the latest", async (t) => {
  const other = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--workers", "1"] });
  t.teardown(() => other.stop());
  const syms = ["DLD1", "DLD2"];
  publish("DLD1", { ts: 1, seq: 1, bid: 1, bsz: 100, halt: true });
  publish("DLD2", { ts: 1, seq: 1, bid: 2, bsz: 100 });
  await pub.flush();
  const a = RawSseClient.open(qc.port, `/quotes?symbols=${syms.join(",")}&delta=1`);
  t.teardown(() => a.close());
  await a.waitFor(() => a.events.length >= 1 && JSON.parse(a.events[0]!.data).length === 2, 5000, "snapshot with both");
  publish("DLD1", { ts: 2, seq: 2, bid: 1.5, bsz: 100 });
  await a.waitFor(() => a.events.length >= 2, 5000, "a delta");
  const state = merged(a);
  const id = a.lastId()!;
  a.close();
  // While the client is away: DLD1 changes (drops bsz); DLD2 does not.
  const d1 = publish("DLD1", { ts: 3, seq: 3, bid: 1.6 });
  await pub.flush();
  await sleep(200);
  const b = RawSseClient.open(other.port, `/quotes?symbols=${syms.join(",")}&delta=1`, { "Last-Event-ID": id });
  t.teardown(() => b.close());
  await b.waitFor(() => b.events.length >= 1, 5000, "resume snapshot");
  t.equal(b.events[0]!.event, "snapshot");
  t.same(JSON.parse(b.events[0]!.data), [d1], "only the symbol changed since the id, as a full object");
  merged(b, state);
  const d2 = publish("DLD2", { ts: 4, seq: 2, bid: 2.5, bsz: 100 });
  const d1b = publish("DLD1", { ts: 4, seq: 4, bid: 1.6, bsz: 300 });
  await b.waitFor(() => b.events.length >= 2 && merged(b, new Map(state), 1).get("DLD1")?.seq === 4, 5000, "deltas after the resume");
  await sleep(200);
  const final = merged(b, state, 1);
  t.same(final.get("DLD1"), d1b);
  t.same(final.get("DLD2"), d2);
});

t.test("quotes-delta - drain sends delta clients what is pending before closing", async (t) => {
  const draining = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--workers", "1", "--drain-ms", "300"] });
  const c = RawSseClient.open(draining.port, "/quotes?symbols=DLE&delta=1");
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  publish("DLE", { ts: 1, seq: 1, bid: 1, bsz: 100 });
  await c.waitFor(() => c.events.length >= 2, 5000, "first delta");
  const last = publish("DLE", { ts: 2, seq: 2, bid: 1.1, bsz: 100 });
  await pub.flush();
  await sleep(5);
  draining.child.kill("SIGTERM");
  t.equal(await draining.exited, 0);
  await waitFor(() => c.closed, 3000, "stream end");
  t.same(merged(c).get("DLE"), last, "the quote published just before the signal arrived, as a delta");
  t.equal(c.events.at(-1)!.event, "delta");
});
