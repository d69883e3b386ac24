import t from "tap";
import { createClient, TooManySymbolsError, type Quote, type QuoteSnapshot } from "@quotecast/client";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";

// createClient in Node 20 (no Web Locks: one connection per client) against a real nats-server
// and `quotecast serve`: subscriptions share one connection carrying the ref-counted union.

let nats: NatsServer;
let pub: TestPublisher;
let qc: Quotecast;
const FLUSH_MS = 20;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
  qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", String(FLUSH_MS)] });
});

t.teardown(async () => {
  await qc?.stop();
  await pub?.close();
  await nats?.cleanup();
});

interface Opened {
  symbols: string[];
  lastEventId: string | null;
  delta: string | null;
}

/** A fetch that records every /quotes request the client makes. */
function recordingFetch(): { fetch: typeof fetch; opened: Opened[] } {
  const opened: Opened[] = [];
  return {
    opened,
    fetch: (input, init) => {
      const url = new URL(String(input));
      const headers = new Headers(init?.headers);
      opened.push({ symbols: (url.searchParams.get("symbols") ?? "").split(","), lastEventId: headers.get("last-event-id"), delta: url.searchParams.get("delta") });
      return fetch(input, init);
    },
  };
}

const connections = async (): Promise<number> => metricValue(await qc.metrics(), "quotecast_connections");
const latestOf = (snap: QuoteSnapshot, sym: string): number | undefined => snap.quotes[sym]?.seq;

t.test("client - three overlapping subscriptions open one connection; closing one re-opens with Last-Event-ID and only its own symbols go", async (t) => {
  const published = new Map<string, Quote>();
  for (const s of ["W1", "W2", "W3", "W4"]) published.set(s, pub.quote(s) as Quote);
  await pub.flush();
  const { fetch, opened } = recordingFetch();
  const client = createClient(qc.base, { fetch });
  t.teardown(() => client.close());
  t.equal(client.role, "page", "Node has no Web Locks: a connection of its own");
  const a = client.subscribe(["W1", "W2"]);
  const b = client.subscribe(["w2", "W3"]);
  const c = client.subscribe(["W3", "W4"]);
  await waitFor(() => [a, b, c].every((s) => s.getSnapshot().status === "live" && s.symbols.every((sym) => s.getSnapshot().quotes[sym] !== undefined)), 5000, "every widget live with its values");
  t.equal(opened.length, 1, "subscriptions made together: one request");
  t.same(opened[0]!.symbols.sort(), ["W1", "W2", "W3", "W4"], "carrying the union");
  t.equal(opened[0]!.delta, "1", "asks for field deltas by default");
  await waitFor(async () => (await connections()) === 1, 3000, "the server counts one connection");
  const bBefore = b.getSnapshot();
  let bNotified = 0;
  b.subscribe(() => bNotified++);
  bNotified = 0;

  a.close();
  await waitFor(() => opened.length === 2 && client.status === "live", 3000, "one re-open");
  t.same(opened[1]!.symbols.sort(), ["W2", "W3", "W4"], "W1 dropped, W2 kept for b");
  t.ok(opened[1]!.lastEventId, "the re-open resumes with Last-Event-ID: not a full reload");
  await sleep(200);
  t.equal(b.getSnapshot().quotes.W2, bBefore.quotes.W2, "b's quotes are the same objects: nothing reloaded");
  t.equal(b.getSnapshot().quotes.W3, bBefore.quotes.W3);
  t.equal(bNotified, 0, "b was not notified: nothing of its changed");
  const w2 = pub.quote("W2") as Quote;
  const w1 = pub.quote("W1");
  await waitFor(() => latestOf(b.getSnapshot(), "W2") === w2.seq, 3000, "b still live");
  t.equal(bNotified, 1, "one notification for one event");
  t.notOk(c.getSnapshot().quotes.W1, "W1 was never c's");
  t.ok(w1.seq > 0);
  await waitFor(async () => (await connections()) === 1, 3000, "still one connection on the server");
});

t.test("client - a symbol added later comes in full; held ones keep their objects; nothing delivered twice", async (t) => {
  const quiet = pub.quote("ADD1") as Quote; // published long before it is subscribed: a resume would not bring it
  const held = pub.quote("ADD2") as Quote;
  await pub.flush();
  const { fetch, opened } = recordingFetch();
  const client = createClient(qc.base, { fetch });
  t.teardown(() => client.close());
  const first = client.subscribe(["ADD2"]);
  await waitFor(() => latestOf(first.getSnapshot(), "ADD2") === held.seq, 5000, "the first value");
  const seen: string[] = [];
  first.subscribe((s) => seen.push(s.quotes.ADD2 ? `${s.quotes.ADD2.seq}` : "-"));
  seen.length = 0;
  const heldObject = first.getSnapshot().quotes.ADD2;
  const second = client.subscribe(["ADD1", "ADD2"]);
  t.equal(second.getSnapshot().quotes.ADD2, heldObject, "a held symbol is there at once, the same object");
  await waitFor(() => latestOf(second.getSnapshot(), "ADD1") === quiet.seq, 5000, "the added quiet symbol's value");
  t.same(second.getSnapshot().quotes.ADD1, quiet, "in full, as published");
  t.equal(opened.length, 3, "the re-open, and the one short request that fills the added symbol");
  t.ok(opened[1]!.lastEventId, "the re-open resumes by id");
  t.same(opened[1]!.symbols.sort(), ["ADD1", "ADD2"]);
  t.same(opened[2], { symbols: ["ADD1"], lastEventId: null, delta: "1" }, "the fill asks for the added symbol only");
  t.equal(first.getSnapshot().quotes.ADD2, heldObject, "the held symbol was not delivered again");
  t.same(seen, [], "the first subscription was not notified at all");
  await waitFor(async () => (await connections()) === 1, 3000, "the fill's connection is closed again");
});

t.test("client - changes within the batch window make a single re-open", async (t) => {
  const { fetch, opened } = recordingFetch();
  const client = createClient(qc.base, { fetch, batchMs: 300 });
  t.teardown(() => client.close());
  const base = client.subscribe(["BAT0"]);
  pub.quote("BAT0");
  await waitFor(() => base.getSnapshot().status === "live", 5000, "live");
  const before = opened.length;
  // Widgets mounting one after another, 20 ms apart, well within the window.
  const subs = [];
  for (const i of [1, 2, 3, 4, 5]) {
    subs.push(client.subscribe([`BAT${i}`]));
    await sleep(20);
  }
  subs[0]!.close();
  await sleep(700);
  // Besides the re-opens (which carry BAT0), a fill asks for the added symbols that have no value.
  const reopens = opened.slice(before).filter((o) => o.symbols.includes("BAT0"));
  t.equal(reopens.length, 1, `five subscribes and a close 20 ms apart: one re-open (${opened.slice(before).map((o) => o.symbols.join(",")).join(" | ")})`);
  t.same(reopens[0]!.symbols.sort(), ["BAT0", "BAT2", "BAT3", "BAT4", "BAT5"]);
  t.ok(reopens[0]!.lastEventId, "by id");
});

t.test("client - over maxSymbols: TooManySymbolsError, and nothing already subscribed is dropped", async (t) => {
  const client = createClient(qc.base, { maxSymbols: 3 });
  t.teardown(() => client.close());
  const ok = client.subscribe(["MX1", "MX2"]);
  const err = t.throws(() => client.subscribe(["MX2", "MX3", "MX4"])) as TooManySymbolsError;
  t.ok(err instanceof TooManySymbolsError, "a typed error");
  t.equal(err.requested, 4);
  t.equal(err.max, 3);
  t.match(err.message, /4 symbols .* more than the 3/);
  pub.quote("MX1");
  await waitFor(() => ok.getSnapshot().quotes.MX1 !== undefined, 5000, "the first subscription still works");
  client.subscribe(["MX3"]);
  t.pass("up to the limit is fine");
  client.close();
  t.equal(ok.getSnapshot().status, "closed", "closing the client: its subscriptions' snapshots say closed");
  t.equal(ok.getSnapshot().reason, "closed by the app");
  t.throws(() => client.subscribe(["MX1"]), /closed/, "a closed client takes no subscription");
});

t.test("client - nothing lost, duplicated or out of order across many re-opens while quotes flow", async (t) => {
  const syms = Array.from({ length: 8 }, (_, i) => `FLO${i}`);
  const client = createClient(qc.base);
  t.teardown(() => client.close());
  const watcher = client.subscribe(syms);
  const lastSeq = new Map<string, number>();
  let backwards = 0;
  let duplicates = 0;
  watcher.subscribe((snap) => {
    for (const s of syms) {
      const q = snap.quotes[s];
      if (!q) continue;
      const prev = lastSeq.get(s) ?? 0;
      if (q.seq < prev) backwards++;
      lastSeq.set(s, q.seq);
    }
  });
  const changedSeen = new Set<string>();
  client.subscribe(syms, (_snap, changed) => {
    for (const q of changed) {
      const key = `${q.sym}:${q.seq}`;
      if (changedSeen.has(key)) duplicates++;
      changedSeen.add(key);
    }
  });
  await waitFor(() => watcher.getSnapshot().status === "live", 5000, "live");
  const latest = new Map<string, Quote>();
  let churn: { close(): void } | undefined;
  for (let round = 0; round < 30; round++) {
    for (const s of syms) latest.set(s, pub.quote(s) as Quote);
    // Another widget comes and goes with symbols of its own: each change re-opens the stream.
    churn?.close();
    churn = round % 2 === 0 ? client.subscribe([`CHURN${round}`, syms[round % syms.length]!]) : undefined;
    await sleep(40);
  }
  churn?.close();
  await pub.flush();
  await waitFor(() => syms.every((s) => latestOf(watcher.getSnapshot(), s) === latest.get(s)!.seq), 5000, "every symbol at its latest value");
  t.same(Object.fromEntries(syms.map((s) => [s, watcher.getSnapshot().quotes[s]])), Object.fromEntries(latest), "exactly the latest published quotes");
  t.equal(backwards, 0, "never a quote older than one shown");
  t.equal(duplicates, 0, "never the same quote twice");
});

t.test("client - status and confirmedAt: held values are vouched for until the stream was last heard, and again once live", async (t) => {
  const own = await startQuotecast({ nats: nats.url, args: ["--flush-ms", String(FLUSH_MS)] });
  pub.quote("CNF");
  await pub.flush();
  const client = createClient(own.base, { minBackoffMs: 50, maxBackoffMs: 200 });
  t.teardown(() => client.close());
  const s = client.subscribe(["CNF"]);
  const statuses: string[] = [];
  s.subscribe((snap) => {
    if (statuses[statuses.length - 1] !== snap.status) statuses.push(snap.status);
  });
  await waitFor(() => s.getSnapshot().status === "live" && s.getSnapshot().quotes.CNF !== undefined, 5000, "live");
  const liveAt = s.getSnapshot().confirmedAt.CNF!;
  t.ok(liveAt > 0 && liveAt <= Date.now(), "confirmed when it arrived");
  await sleep(300);
  const killedAt = Date.now();
  await own.kill();
  await waitFor(() => s.getSnapshot().status === "reconnecting", 5000, "reconnecting");
  const lost = s.getSnapshot();
  t.ok(lost.reason && lost.reason.length > 0, `a reason: ${lost.reason}`);
  t.ok(lost.confirmedAt.CNF! >= liveAt && lost.confirmedAt.CNF! <= killedAt, "once lost, confirmedAt is when the stream was last heard, not later");
  t.ok(lost.quotes.CNF, "the last value is kept, for the UI to grey out");
  // Taken before the start: the client may be live again before startQuotecast has seen /readyz.
  const restartedAt = Date.now();
  const again = await startQuotecast({ nats: nats.url, args: ["--flush-ms", String(FLUSH_MS)], port: own.port });
  t.teardown(() => again.stop());
  await waitFor(() => s.getSnapshot().status === "live", 10_000, "live again");
  t.ok(s.getSnapshot().confirmedAt.CNF! >= restartedAt, "live again: the resumed snapshot vouches for the held value");
  t.equal(s.getSnapshot().reason, undefined);
  t.same(statuses.filter((x, i) => statuses.indexOf(x) === i), ["connecting", "live", "reconnecting"], `statuses: ${statuses.join(" → ")}`);
});

t.test("client - a field that disappears from a symbol's quote disappears from the store (delta=1 asked for)", async (t) => {
  const client = createClient(qc.base);
  t.teardown(() => client.close());
  const s = client.subscribe(["FLD"]);
  await waitFor(() => s.getSnapshot().status === "live", 5000, "live");
  const first = pub.quote("FLD", { halt: true, last: 5 }) as Quote;
  await waitFor(() => latestOf(s.getSnapshot(), "FLD") === first.seq, 3000, "first quote");
  t.same(s.getSnapshot().quotes.FLD, first);
  const second = pub.quote("FLD", { last: 6 }) as Quote;
  await waitFor(() => latestOf(s.getSnapshot(), "FLD") === second.seq, 3000, "second quote");
  t.same(s.getSnapshot().quotes.FLD, second, "exactly the latest quote: halt is gone (a full quote replaces, a delta's null deletes)");
  t.notOk("halt" in s.getSnapshot().quotes.FLD!);
});

t.test("client - a subscription to no symbol is live with nothing to show, and opens no stream", async (t) => {
  const { fetch, opened } = recordingFetch();
  const client = createClient(qc.base, { fetch });
  t.teardown(() => client.close());
  const s = client.subscribe([]);
  await waitFor(() => s.getSnapshot().status === "live", 3000, "live");
  t.same(s.getSnapshot().quotes, {});
  t.equal(opened.length, 0, "no request");
});
