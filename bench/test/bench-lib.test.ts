// The bench's pure parts (`npm test` runs them, as does `npx tap bench/test/`; the bench itself
// never runs in `npm test`): the latency histogram, the ceiling's frame size, the capacity rule,
// the subscriptions every server gets, and the chart.

import t from "tap";
import { held, nextProbe } from "../capacity.js";
import { BANDWIDTH_MODES, parseModes } from "../lib/modes.js";
import { LatencyHistogram } from "../loadgen/histogram.js";
import { quote } from "../loadgen/quote.js";
import { bandwidthSection, chartSvg, mergeRounds, selectInvocation, type RunLine } from "../lib/results.js";
import { judgeBandwidth } from "../suite.js";
import { account } from "../sse-bytes.js";
import { quotesPerFrame, subscriptionPaths } from "../lib/run-one.js";
import { receivedTotal, takenInPerSec } from "../ingest.js";

t.test("bench histogram - quantiles over 1 ms buckets, merged across processes", async (t) => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  for (let ms = 1; ms <= 50; ms++) a.record(ms);
  for (let ms = 51; ms <= 100; ms++) b.record(ms);
  b.record(-3); // a clock a little behind lands in bucket 0, not out of range
  const all = new LatencyHistogram();
  all.add(a.sparse());
  all.add(b.sparse());
  t.equal(all.count, 101);
  t.equal(all.quantile(0.5), 50);
  t.equal(all.quantile(0.99), 99);
  t.equal(all.max, 100);
  all.reset();
  t.ok(Number.isNaN(all.quantile(0.99)), "no samples: no quantile");
});

t.test("bench quote - about 130 bytes and the contract's required fields", async (t) => {
  const q = quote("BN0042", 123456, 1_764_160_000_000);
  t.ok(q.length >= 125 && q.length <= 135, `length ${q.length}`);
  t.match(JSON.parse(q), { sym: "BN0042", ts: 1_764_160_000_000, seq: 123456 });
});

t.test("bench ceiling - frame size follows how often a symbol changes within a window", async (t) => {
  t.equal(quotesPerFrame(2000, 50, 200, 20), 10, "each symbol every 100 ms: half change in 50 ms");
  t.equal(quotesPerFrame(5000, 50, 200, 20), 20, "every 40 ms: all change");
  t.equal(quotesPerFrame(2000, 250, 200, 20), 20);
  t.equal(quotesPerFrame(0, 50, 200, 20), 0, "no feed, no quotes");
});

t.test("bench capacity - a step holds only with p99 in bound, all open, none dropped, finals complete", async (t) => {
  const ok = { p99Ms: 150, opened: 1000, dropped: 0, finalsOk: true };
  t.ok(held(ok, 50, 1000));
  t.notOk(held({ ...ok, p99Ms: 151 }, 50, 1000));
  t.notOk(held({ ...ok, opened: 999 }, 50, 1000));
  t.notOk(held({ ...ok, dropped: 1 }, 50, 1000));
  t.notOk(held({ ...ok, finalsOk: false }, 50, 1000));
  t.ok(held({ ...ok, finalsOk: null }, 50, 1000), "the ceiling has no finals to check");
  t.notOk(held({ error: "did not start" }, 50, 1000));
  t.notOk(held({ ...ok, visP99Ms: 151 }, 50, 1000), "the visibility lag's p99 is held to the same bound");
  t.ok(held({ ...ok, visP99Ms: 150 }, 50, 1000));
  t.ok(held({ ...ok, visP99Ms: null }, 50, 1000), "the ceiling has no feed to measure it by");
});

t.test("bench subscriptions - shared lists: every connection takes one of N lists; a mode's query is appended", async (t) => {
  const a = subscriptionPaths(500, 20, 200, 50, "&delta=1");
  t.same(a, subscriptionPaths(500, 20, 200, 50, "&delta=1"));
  t.ok(new Set(a).size <= 50 && new Set(a).size > 40, `${new Set(a).size} distinct lists`);
  t.ok(a.every((p) => p.endsWith("&delta=1")));
});

t.test("bench modes - the four by name, in the order given; gzip asks for it and starts the server with it; an unknown one names those that exist", async (t) => {
  t.same(parseModes("delta,full").map((m) => [m.name, m.query]), [["delta", "&delta=1"], ["full", ""]]);
  const [gzip, deltaGzip] = parseModes("gzip,delta-gzip");
  t.same([gzip!.query, gzip!.headers, gzip!.serverArgs], ["", "Accept-Encoding: gzip\r\n", ["--compression", "gzip"]]);
  t.same([deltaGzip!.query, deltaGzip!.headers, deltaGzip!.serverArgs], ["&delta=1", "Accept-Encoding: gzip\r\n", ["--compression", "gzip"]]);
  t.same(parseModes(BANDWIDTH_MODES).map((m) => m.name), ["full", "delta", "gzip", "delta-gzip"]);
  t.throws(() => parseModes("full,gzip2"), /unknown mode gzip2; choose from full, delta, gzip, delta-gzip/);
});

t.test("bench subscriptions - 20 distinct of the universe each, the same for every server", async (t) => {
  const a = subscriptionPaths(50, 20, 200);
  t.same(a, subscriptionPaths(50, 20, 200));
  for (const p of a) {
    const syms = p.slice("/quotes?symbols=".length).split(",");
    t.equal(new Set(syms).size, 20);
  }
  t.ok(new Set(a).size > 45, "connections mostly differ");
});

t.test("bench chart - one polyline per server, log scale, limit line", async (t) => {
  const line = (server: string, connections: number, p99Ms: number) =>
    ({ scenario: "matrix", server, params: { connections, rate: 2000, flushMs: 50, workers: 1 }, figures: { p99Ms } }) as unknown as RunLine;
  const svg = chartSvg([line("quotecast", 1000, 60), line("quotecast", 5000, 120), line("naive", 1000, 150), line("naive", 5000, 6000)], 2000, 50);
  t.equal(svg.match(/<polyline/g)?.length, 2);
  t.match(svg, /flush\+100 ms/);
  t.match(svg, />quotecast</);
  t.match(svg, />naive</);
});

t.test("bench results - each scenario from the newest invocation that ran it, the given invocation's own first", async (t) => {
  const line = (invocation: string, scenario: string) => ({ invocation, scenario }) as unknown as RunLine;
  const all = [line("a", "matrix"), line("a", "idle"), line("b", "capacity"), line("c", "matrix"), line("d", "capacity"), line("d", "capacity"), line("e", "bandwidth"), line("f", "bandwidth")];
  const shape = (rs: RunLine[]) => rs.map((r) => `${r.invocation}:${r.scenario}`);
  t.same(shape(selectInvocation(all, "c")), ["a:idle", "c:matrix", "d:capacity", "d:capacity", "f:bandwidth"], "matrix from c, the rest from their newest");
  t.same(shape(selectInvocation(all, "f")), ["a:idle", "c:matrix", "d:capacity", "d:capacity", "f:bandwidth"], "a bandwidth run keeps the other scenarios' figures");
  t.same(shape(selectInvocation(all, "e")), ["a:idle", "c:matrix", "d:capacity", "d:capacity", "e:bandwidth"], "an older invocation shows its own scenarios");
  t.same(shape(selectInvocation(all, "b")), ["a:idle", "b:capacity", "c:matrix", "f:bandwidth"], "an older capacity run goes with the newest of the rest");
  t.same(shape(selectInvocation([line("x", "capacity")], "x")), ["x:capacity"], "alone when there is nothing else");
});

t.test("bench results - the bandwidth section: four modes per workload beside the ceiling, % of full, then idle memory", async (t) => {
  const machine = { date: "2026-12-06T00:00:00Z", nproc: 2, cpu: "x", node: "v20", kernel: "k", natsServer: "n", loadAtStart: 0, commit: "abc1234" };
  const run = (server: string, mode: string | undefined, sharedLists: number, figures: Record<string, unknown>, extra?: string) =>
    ({ invocation: "i1", command: "npm run bench -- bandwidth", machine, date: machine.date, commit: "abc1234", scenario: "bandwidth", server, params: { connections: 5000, rate: extra ? 0 : 2000, flushMs: 50, universe: 200, perConnection: 20, mix: "market", workers: 1, ...(sharedLists ? { sharedLists } : {}), ...(mode ? { mode: { name: mode } } : {}), ...(extra ? { extra } : {}) }, figures }) as unknown as RunLine;
  const rs = [
    run("ceiling", undefined, 0, { framesPerSec: 100 }),
    run("quotecast", "full", 0, { framesPerSec: 90, bytesPerQuote: 116 }),
    run("quotecast", "delta-gzip", 0, { framesPerSec: 80, bytesPerQuote: 29 }),
    run("quotecast", "delta", 0, { framesPerSec: 90, bytesPerQuote: 58 }),
    run("quotecast", "full", 50, { framesPerSec: 50, bytesPerQuote: 116 }),
    run("quotecast", "gzip-not-asked", 0, { rssPerConnKB: 3.1 }, "idle"),
  ];
  const md = bandwidthSection(rs).join("\n");
  t.match(md, /invocation i1, started 2026-12-06T00:00:00Z, quotecast abc1234/);
  const rows = md.split("\n").filter((l) => l.startsWith("| own") || l.startsWith("| shared"));
  t.same(rows.map((l) => l.split(" | ").slice(0, 3).join(" ")), ["| own ceiling –", "| own quotecast full", "| own quotecast delta", "| own quotecast delta-gzip", "| shared quotecast full"], "modes in order, own then shared");
  t.match(rows[2]!, /\| 90% \|.*\| 50% \|/, "delta: 90% of the ceiling's frames/s, 50% of full's bytes");
  t.match(rows[3]!, /\| 25% \|/, "delta-gzip: 25% of full's bytes");
  t.match(md, /\| quotecast \| gzip-not-asked \| 5,000 \| – \| 3.10 \|/);
});

t.test("bench targets - issue 15's bandwidth targets judged per mode; missing runs are not measured", async (t) => {
  const run = (server: string, mode: string | undefined, sharedLists: number, figures: Record<string, unknown>, extra?: string) =>
    ({ scenario: "bandwidth", server, params: { connections: 5000, workers: 1, ...(sharedLists ? { sharedLists } : {}), ...(mode ? { mode: { name: mode } } : {}), ...(extra ? { extra } : {}) }, figures }) as unknown as RunLine;
  const rs = [
    run("quotecast", "full", 0, { framesPerSec: 100, bytesPerQuote: 100, p99Ms: 60 }),
    run("quotecast", "delta", 0, { framesPerSec: 99, bytesPerQuote: 61, p99Ms: 60 }),
    run("quotecast", "gzip", 0, { framesPerSec: 50, bytesPerQuote: 35 }),
    run("quotecast", "full", 50, { framesPerSec: 100 }),
    run("quotecast", "gzip", 50, { framesPerSec: 70 }),
    run("quotecast", "gzip-not-asked", 0, { rssPerConnKB: 4.9 }, "idle"),
  ];
  const v = judgeBandwidth(rs);
  t.same(
    v.map((x) => [x.target.slice(0, 24), x.met]),
    [
      ["delta: at most 60% of fu", false],
      ["gzip: at most 35% of ful", true],
      ["delta-gzip: at most 30% ", null],
      ["delta: frames/s and p99 ", true],
      ["gzip on shared watchlist", true],
      ["--compression gzip: a co", true],
    ],
    "61% is over 60%; 35% is at most 35%; no delta-gzip run; 70% is at least 70%",
  );
  t.match(v.find((x) => x.target.startsWith("gzip: at most"))!.figures, /35 vs 100 B .*\(35%\)/);
});

t.test("bench rounds - repeated runs merge into medians with their range; the delta target judges the medians, shared lists too", async (t) => {
  const run = (mode: string, sharedLists: number, round: number, framesPerSec: number, p99Ms: number, finalsOk = true) =>
    ({ invocation: "i1", command: "npm run bench -- bandwidth", machine: { date: "2026-12-06T00:00:00Z" }, commit: "abc1234", scenario: "bandwidth", server: "quotecast", params: { connections: 5000, flushMs: 50, rate: 2000, universe: 200, perConnection: 20, workers: 1, round, ...(sharedLists ? { sharedLists } : {}), mode: { name: mode } }, figures: { framesPerSec, p99Ms, bytesPerQuote: mode === "delta" ? 60 : 116, finalsOk, finalsCurrent: finalsOk ? 5000 : 4999, fieldChangeRates: `r${round}` } }) as unknown as RunLine;
  // Round 1 alone would fail delta (58 vs 66 frames/s); the medians are 62 vs 59.
  const own = [run("full", 0, 1, 66, 160), run("delta", 0, 1, 58, 120), run("full", 0, 2, 59, 190), run("delta", 0, 2, 62, 130, false), run("full", 0, 3, 54, 240), run("delta", 0, 3, 63, 125)];
  const merged = mergeRounds(own);
  t.equal(merged.length, 2, "one line per mode");
  const delta = merged.find((r) => r.params.mode?.name === "delta")!;
  t.same([delta.figures.framesPerSec, delta.figures.framesPerSecMin, delta.figures.framesPerSecMax, delta.figures.p99Ms, delta.figures.rounds], [62, 58, 63, 125, 3], "median, range, rounds");
  t.same([delta.figures.finalsOk, delta.figures.finalsCurrent], [false, 4999], "the finals are the worst round's");
  t.equal(delta.params.round, undefined, "the merged line has no round");
  t.same(mergeRounds([run("full", 0, 1, 10, 1), run("full", 0, 2, 20, 1)])[0]!.figures.framesPerSec, 15, "an even count: the mean of the middle two");
  const verdict = (rs: RunLine[]) => judgeBandwidth(rs).find((v) => v.target.startsWith("delta: frames/s"))!;
  t.equal(verdict(own).met, true, "medians: delta 62 vs full 59 frames/s, p99 125 vs 190 ms");
  t.match(verdict(own).figures, /medians of 3 rounds .*frames\/s 62 \(58–63\) vs 59 \(54–66\)/);
  t.equal(verdict(own.slice(0, 2)).met, false, "round 1 alone: 58 vs 66 frames/s");
  const shared = [run("full", 50, 1, 60, 150), run("delta", 50, 1, 60, 200), run("full", 50, 2, 60, 150), run("delta", 50, 2, 60, 200), run("full", 50, 3, 60, 150), run("delta", 50, 3, 60, 200)];
  t.equal(verdict([...own, ...shared]).met, false, "shared lists: p99 200 vs 150 ms fails the target");
  t.match(verdict([...own, ...shared]).figures, /shared lists: frames\/s 60 vs 60, p99 200 vs 150 ms/);
  const md = bandwidthSection([...own, ...shared]).join("\n");
  t.match(md, /\| own \| quotecast \| delta \| 62 \(58–63\) \|/, "the table shows the median and range of frames/s");
  t.match(md, /each figure is the median of its rounds/);
});

t.test("bench capacity - between the last step held and the first failed, halves to multiples of 250", async (t) => {
  t.equal(nextProbe(5000, 7500, 500), 6250);
  t.equal(nextProbe(6250, 7500, 500), 7000, "6875 rounds to 7000");
  t.equal(nextProbe(6250, 7000, 500), 6750);
  t.equal(nextProbe(6750, 7000, 500), undefined, "close enough");
  t.equal(nextProbe(2000, 3000, 500), 2500);
  t.equal(nextProbe(2000, 2500, 500), undefined);
  t.equal(nextProbe(500, 600, 50), undefined, "no multiple of 250 strictly between");
});

t.test("bench sse-bytes - every byte of the update events accounted for; a field sent unchanged is counted", async (t) => {
  const body = [
    "retry: 1000",
    "",
    "id: a-1",
    "event: snapshot",
    'data: [{"sym":"BN0000","ts":1,"seq":1,"bid":2}]',
    "",
    "id: a-2",
    "event: delta",
    'data: [{"sym":"BN0000","ts":2,"seq":2},{"sym":"BN0001","ts":2,"seq":1,"bid":3}]',
    "",
    "id: a-3",
    "event: delta",
    'data: [{"sym":"BN0000","ts":3,"seq":3,"bid":2}]',
    "",
    "",
  ].join("\n");
  const a = account(body);
  t.equal(a.events, 2);
  t.equal(a.objects, 3);
  const updates = body.slice(body.indexOf("id: a-2"));
  t.equal(a.total, updates.length, "the update events' bytes, blank lines included");
  t.equal(
    Object.values(a.parts).reduce((x, y) => x + y, 0),
    a.total,
    "the parts add up to the whole",
  );
  t.equal(a.redundant, 1, "bid 2 again for BN0000, which the snapshot had delivered");
  t.same(a.present, { ts: 3, seq: 3, bid: 2 });
});

t.test("bench ingest - a count the metrics never gave is n/a, not 0 (the negative 'taken in')", async (t) => {
  const text = "# HELP quotecast_quotes_received_total x\nquotecast_quotes_received_total 1200\n";
  t.equal(await receivedTotal(async () => text, 3, 0), 1200);
  let asked = 0;
  const silent = async (): Promise<string> => {
    asked++;
    throw new Error("timeout");
  };
  t.ok(Number.isNaN(await receivedTotal(silent, 3, 0)), "no answer: NaN, never 0");
  t.equal(asked, 3);
  t.equal(takenInPerSec(150_000, 15, 1), 10_000);
  t.equal(takenInPerSec(150_000, 15, 2), 5_000);
  t.ok(Number.isNaN(takenInPerSec(1200 - Number.NaN, 15, 1)), "a missing count is n/a");
  t.ok(Number.isNaN(takenInPerSec(-178_545, 15, 1)), "a count that went backwards (a restarted worker) is n/a, not a negative rate");
});
