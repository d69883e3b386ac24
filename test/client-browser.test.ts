import t from "tap";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { CHROMIUM_ARGS, chromiumForTest } from "./helpers/chromium.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";

// @quotecast/client in Debian's headless Chromium, over HTTP/1.1 against a real nats-server and
// `quotecast serve`: one connection per browser, shared by every tab and widget. Measured times are
// printed as test comments (`# ...`).

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CHROMIUM = chromiumForTest(t);

let nats: NatsServer;
let pub: TestPublisher;
let qc: Quotecast;
let browser: Browser;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
  qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "20"] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

t.teardown(async () => {
  await browser?.close();
  await qc?.stop();
  await pub?.close();
  await nats?.cleanup();
});

const connections = async (): Promise<number> => metricValue(await qc.metrics(), "quotecast_connections");

/** Every console error and uncaught exception of the context's pages. */
function collectErrors(context: BrowserContext): string[] {
  const errors: string[] = [];
  context.on("page", (page) => {
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  });
  return errors;
}

/** Serve `path` on the quotecast origin from the test: an HTML shell and `source` bundled with esbuild. */
async function servePage(context: BrowserContext, path: string, source: string): Promise<void> {
  const out = await build({
    stdin: { contents: source, resolveDir: ROOT, loader: "tsx", sourcefile: "page.tsx" },
    bundle: true,
    write: false,
    format: "esm",
    target: "es2022",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "silent",
  });
  const script = out.outputFiles[0]!.text;
  await context.route(qc.base + path, (route) => route.fulfill({ contentType: "text/html; charset=utf-8", body: `<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module" src="${path}.js"></script>` }));
  await context.route(qc.base + path + ".js", (route) => route.fulfill({ contentType: "text/javascript; charset=utf-8", body: script }));
}

const boardRole = (page: Page): Promise<string> => page.evaluate(() => (globalThis as unknown as { quotecastBoard: { client: { role: string } } }).quotecastBoard.client.role);
const shownLast = (page: Page, sym: string): Promise<string | null> => page.locator(`tr[data-sym="${sym}"] td.last`).textContent();

t.test("client-browser - eight board tabs share one connection, all live; the leader closes, another tab takes over within 2 s, every tab ends with the latest quotes", { timeout: 90_000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 900, height: 400 } });
  t.teardown(() => context.close());
  const errors = collectErrors(context);
  const tabs = Array.from({ length: 8 }, (_, i) => [`TAB${i}A`, `TAB${i}B`]);
  const pages: Page[] = [];
  for (const syms of tabs) {
    const page = await context.newPage();
    await page.goto(`${qc.base}/?symbols=${syms.join(",")}`);
    pages.push(page);
  }
  for (const page of pages) await page.waitForFunction(() => document.getElementById("status-text")?.textContent === "live", undefined, { timeout: 10_000 });
  let k = 0;
  const latest = new Map<string, number>();
  const publishAll = (): void => {
    k++;
    for (const s of tabs.flat()) latest.set(s, pub.quote(s, { last: 100 + k / 100 }).last as number);
  };
  publishAll();
  const shows = async (page: Page, syms: string[]): Promise<boolean> => {
    for (const s of syms) if ((await shownLast(page, s)) !== latest.get(s)!.toFixed(2)) return false;
    return true;
  };
  await waitFor(async () => (await Promise.all(pages.map((p, i) => shows(p, tabs[i]!)))).every(Boolean), 10_000, "every tab shows its live quotes");
  t.pass("all eight tabs show live quotes of their own symbols");
  await waitFor(async () => (await connections()) === 1, 5000, "quotecast_connections = 1");
  const roles = await Promise.all(pages.map(boardRole));
  t.equal(roles.filter((r) => r === "leader").length, 1, "one tab leads");
  t.equal(roles.filter((r) => r === "follower").length, 7, "seven follow");
  await sleep(500);
  t.equal(await connections(), 1, "quotecast_connections stays 1 with eight tabs open");

  // Close the leader while the feed runs.
  const leaderIndex = roles.indexOf("leader");
  const survivors = pages.filter((_, i) => i !== leaderIndex);
  const survivorSyms = tabs.filter((_, i) => i !== leaderIndex);
  const feed = setInterval(publishAll, 40);
  t.teardown(() => clearInterval(feed));
  await sleep(200);
  const kAtClose = k;
  const closedAt = Date.now();
  await pages[leaderIndex]!.close();
  // Taken over: a quote published after the close is shown by a surviving tab.
  const after = (100 + (kAtClose + 1) / 100).toFixed(2);
  await waitFor(async () => {
    for (let i = 0; i < survivors.length; i++) if (Number(await shownLast(survivors[i]!, survivorSyms[i]![0]!)) >= Number(after)) return true;
    return false;
  }, 10_000, "a quote published after the close, shown");
  const takeoverMs = Date.now() - closedAt;
  t.ok(takeoverMs <= 2000, `another tab holds the stream and shows new quotes ${takeoverMs} ms after the leader closed`);
  const newRoles = await Promise.all(survivors.map(boardRole));
  t.equal(newRoles.filter((r) => r === "leader").length, 1, "one surviving tab leads");
  await sleep(300);
  clearInterval(feed);
  await pub.flush();
  const stoppedAt = Date.now();
  await waitFor(async () => (await Promise.all(survivors.map((p, i) => shows(p, survivorSyms[i]!)))).every(Boolean), 5000, "every tab holds the latest published quote of each of its symbols").catch(async (err: Error) => {
    const got = await Promise.all(survivors.map(async (p, i) => `${survivorSyms[i]![0]}=${await shownLast(p, survivorSyms[i]![0]!)}`));
    throw new Error(`${err.message}: want ${latest.get(survivorSyms[0]![0]!)}, got ${got.join(" ")}`);
  });
  t.pass(`every tab holds the latest published quote of each of its symbols (${Date.now() - stoppedAt} ms after the feed stopped)`);
  await waitFor(async () => (await connections()) === 1, 5000, "quotecast_connections = 1 again");
  t.same(errors, [], "no console errors");
  t.comment(`takeover: ${takeoverMs} ms from closing the leader tab to new quotes shown (8 tabs, --flush-ms 20)`);
});

const WIDGETS = `
import { createClient } from "@quotecast/client";
const client = createClient(location.origin);
const notes = { a: 0, b: 0, c: 0 };
const widgets = {
  a: client.subscribe(["WA", "WB"]),
  b: client.subscribe(["WB", "WC"]),
  c: client.subscribe(["WC", "WD"]),
};
for (const k of ["a", "b", "c"]) widgets[k].subscribe(() => notes[k]++);
globalThis.page = { client, widgets, notes, held: {} };
`;

type WidgetPage = {
  client: { status: string };
  widgets: Record<"a" | "b" | "c", { close(): void; getSnapshot(): { status: string; quotes: Record<string, { seq: number }> } }>;
  notes: Record<"a" | "b" | "c", number>;
  held: Record<string, unknown>;
};

t.test("client-browser - three widgets with overlapping symbols open one connection; closing one drops only its symbols, the others are not reloaded", async (t) => {
  for (const s of ["WA", "WB", "WC", "WD"]) pub.quote(s);
  await pub.flush();
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const errors = collectErrors(context);
  await servePage(context, "/widgets", WIDGETS);
  const page = await context.newPage();
  const requests: { url: string; lastEventId: string | undefined }[] = [];
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/quotes") requests.push({ url: r.url(), lastEventId: r.headers()["last-event-id"] });
  });
  await page.goto(qc.base + "/widgets");
  await page.waitForFunction(() => {
    const w = (globalThis as unknown as { page: WidgetPage }).page.widgets;
    return Object.values(w).every((s) => s.getSnapshot().status === "live" && Object.keys(s.getSnapshot().quotes).length === 2);
  }, undefined, { timeout: 10_000 });
  t.equal(requests.length, 1, "one request for the three widgets");
  t.same(new URL(requests[0]!.url).searchParams.get("symbols")!.split(",").sort(), ["WA", "WB", "WC", "WD"], "the union");
  await waitFor(async () => (await connections()) === 1, 5000, "quotecast_connections = 1");
  await page.evaluate(() => {
    const p = (globalThis as unknown as { page: WidgetPage }).page;
    p.held = { b: p.widgets.b.getSnapshot(), c: p.widgets.c.getSnapshot(), notesB: p.notes.b, notesC: p.notes.c };
    p.widgets.a.close();
  });
  await waitFor(() => requests.length === 2, 3000, "one re-open");
  t.same(new URL(requests[1]!.url).searchParams.get("symbols")!.split(",").sort(), ["WB", "WC", "WD"], "WA dropped; WB kept for widget b");
  t.ok(requests[1]!.lastEventId, "the re-open resumes with Last-Event-ID");
  await page.waitForFunction(() => (globalThis as unknown as { page: WidgetPage }).page.client.status === "live", undefined, { timeout: 5000 });
  await sleep(300);
  const same = await page.evaluate(() => {
    const p = (globalThis as unknown as { page: WidgetPage }).page;
    const held = p.held as { b: unknown; c: unknown; notesB: number; notesC: number };
    return { b: p.widgets.b.getSnapshot() === held.b, c: p.widgets.c.getSnapshot() === held.c, notesB: p.notes.b - held.notesB, notesC: p.notes.c - held.notesC };
  });
  t.same(same, { b: true, c: true, notesB: 0, notesC: 0 }, "widgets b and c keep the very same snapshots and were not notified: no reload");
  t.equal(await connections(), 1, "still one connection");
  const wb = pub.quote("WB");
  await page.waitForFunction((seq) => (globalThis as unknown as { page: WidgetPage }).page.widgets.b.getSnapshot().quotes.WB?.seq === seq, wb.seq, { timeout: 3000 });
  t.pass("widget b still live");
  t.same(errors, [], "no console errors");
});

const REACT = `
import { createClient } from "@quotecast/client";
import { useMemo, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";
const SYMS = ["RA", "RB", "RC", "RD", "RE", "RF"];
const client = createClient(location.origin);
const sub = client.subscribe(SYMS);
const renders = { table: 0 };
function Row({ sym }: { sym: string }) {
  const store = useMemo(() => sub.select(sym), [sym]);
  const q = useSyncExternalStore(store.subscribe, store.getSnapshot);
  renders[sym] = (renders[sym] ?? 0) + 1;
  return <tr data-sym={sym}><td>{sym}</td><td className="last">{typeof q?.last === "number" ? q.last.toFixed(2) : "-"}</td></tr>;
}
function Table() {
  renders.table++;
  return <table><tbody>{SYMS.map((s) => <Row key={s} sym={s} />)}</tbody></table>;
}
let events = 0;
sub.subscribe(() => events++);
createRoot(document.getElementById("root")!).render(<Table />);
globalThis.page = { renders, events: () => events };
`;

t.test("client-browser - a React table on useSyncExternalStore re-renders only the rows whose symbols changed", async (t) => {
  const syms = ["RA", "RB", "RC", "RD", "RE", "RF"];
  for (const s of syms) pub.quote(s, { last: 10 });
  await pub.flush();
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const errors = collectErrors(context);
  await servePage(context, "/react", REACT);
  const page = await context.newPage();
  await page.goto(qc.base + "/react");
  await page.waitForFunction(() => [...document.querySelectorAll("td.last")].every((td) => td.textContent === "10.00"), undefined, { timeout: 10_000 });
  type Counts = { renders: Record<string, number>; events: number };
  const counts = (): Promise<Counts> =>
    page.evaluate(() => {
      const p = (globalThis as unknown as { page: { renders: Record<string, number>; events: () => number } }).page;
      return { renders: { ...p.renders }, events: p.events() };
    });
  const before = await counts();
  const N = 20;
  for (let i = 1; i <= N; i++) {
    pub.quote("RB", { last: 10 + i });
    await page.waitForFunction((v) => document.querySelector('tr[data-sym="RB"] td.last')?.textContent === v, (10 + i).toFixed(2), { timeout: 3000 });
  }
  // Two symbols in one event.
  pub.quote("RD", { last: 20 });
  pub.quote("RE", { last: 20 });
  await page.waitForFunction(() => ["RD", "RE"].every((s) => document.querySelector(`tr[data-sym="${s}"] td.last`)?.textContent === "20.00"), undefined, { timeout: 3000 });
  const after = await counts();
  const delta = (k: string): number => (after.renders[k] ?? 0) - (before.renders[k] ?? 0);
  const events = after.events - before.events;
  t.equal(delta("RB"), N, `RB re-rendered once per update (${N} events, ${N} renders)`);
  t.ok(delta("RD") === 1 && delta("RE") === 1, "RD and RE once each");
  t.same([delta("RA"), delta("RC"), delta("RF"), delta("table")], [0, 0, 0, 0], "the unchanged rows and the table never re-rendered");
  t.ok(events >= N + 1 && events <= N + 2, `${events} store notifications for ${N + 1} or ${N + 2} events`);
  t.same(errors, [], "no console errors");
  t.comment(`renders per event: ${N} updates of one symbol -> ${delta("RB")} renders of its row, ${delta("RA") + delta("RC") + delta("RF")} of the 3 unchanged rows, ${delta("table")} of the table`);
});

const SHARED = `
import { createClient } from "@quotecast/client";
const symbol = location.hash.slice(1);
const client = createClient(location.origin);
const sub = client.subscribe([symbol]);
const statuses = [];
sub.subscribe((s) => { if (statuses[statuses.length - 1] !== s.status) statuses.push(s.status); });
globalThis.page = { client, sub, statuses };
`;

type SharedPage = { client: { role: string; close(): void }; sub: { getSnapshot(): { status: string; quotes: Record<string, { seq: number }> } }; statuses: string[] };

t.test("client-browser - a leader that closes its client hands over; the followers never show closed", async (t) => {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const errors = collectErrors(context);
  await servePage(context, "/shared", SHARED);
  const one = await context.newPage();
  await one.goto(qc.base + "/shared#SHA");
  await one.waitForFunction(() => (globalThis as unknown as { page: SharedPage }).page.client.role === "leader", undefined, { timeout: 5000 });
  const two = await context.newPage();
  await two.goto(qc.base + "/shared#SHB");
  const sha = pub.quote("SHA");
  const shb = pub.quote("SHB");
  for (const [page, sym, q] of [[one, "SHA", sha], [two, "SHB", shb]] as const) {
    await page.waitForFunction(([s, seq]) => (globalThis as unknown as { page: SharedPage }).page.sub.getSnapshot().quotes[s]?.seq === seq, [sym, q.seq] as const, { timeout: 5000 });
  }
  t.equal(await two.evaluate(() => (globalThis as unknown as { page: SharedPage }).page.client.role), "follower");
  await one.evaluate(() => (globalThis as unknown as { page: SharedPage }).page.client.close());
  await two.waitForFunction(() => (globalThis as unknown as { page: SharedPage }).page.client.role === "leader", undefined, { timeout: 2000 });
  const next = pub.quote("SHB");
  await two.waitForFunction((seq) => (globalThis as unknown as { page: SharedPage }).page.sub.getSnapshot().quotes.SHB?.seq === seq, next.seq, { timeout: 3000 });
  const statuses = await two.evaluate(() => (globalThis as unknown as { page: SharedPage }).page.statuses);
  t.notOk(statuses.includes("closed"), `the follower's statuses: ${statuses.join(" → ")}`);
  await waitFor(async () => (await connections()) === 1, 5000, "one connection, held by the second tab");
  t.same(errors, [], "no console errors");
});

t.test("client-browser - a follower tab that closes: the leader drops its symbols", async (t) => {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const errors = collectErrors(context);
  await servePage(context, "/shared", SHARED);
  const one = await context.newPage();
  const opened: string[] = [];
  one.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname === "/quotes") opened.push(url.searchParams.get("symbols")!);
  });
  await one.goto(qc.base + "/shared#SHC");
  await one.waitForFunction(() => (globalThis as unknown as { page: SharedPage }).page.client.role === "leader", undefined, { timeout: 5000 });
  const two = await context.newPage();
  await two.goto(qc.base + "/shared#SHD");
  await waitFor(() => opened.at(-1)?.split(",").sort().join(",") === "SHC,SHD", 5000, "the leader carries the follower's symbol");
  const closedAt = Date.now();
  await two.close();
  await waitFor(() => opened.at(-1) === "SHC", 8000, "the leader re-opens without the closed tab's symbol");
  t.pass(`dropped ${Date.now() - closedAt} ms after the tab closed`);
  t.same(errors, [], "no console errors");
});

const OVER = `
import { createClient } from "@quotecast/client";
const [syms, max] = location.hash.slice(1).split("/");
const errors = [];
const client = createClient(location.origin, { maxSymbols: Number(max), onError: (e) => errors.push(e.name + ": " + e.message) });
const sub = client.subscribe(syms.split(","));
globalThis.page = { client, sub, errors };
`;

t.test("client-browser - tabs whose symbols together exceed maxSymbols: the tab that would go over is refused and told, nothing is truncated", async (t) => {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  await servePage(context, "/over", OVER);
  const one = await context.newPage();
  const opened: string[] = [];
  one.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname === "/quotes") opened.push(url.searchParams.get("symbols")!);
  });
  await one.goto(qc.base + "/over#OV1,OV2/3");
  await one.waitForFunction(() => (globalThis as unknown as { page: SharedPage }).page.client.role === "leader", undefined, { timeout: 5000 });
  const two = await context.newPage();
  await two.goto(qc.base + "/over#OV3,OV4/3");
  await two.waitForFunction(() => (globalThis as unknown as { page: { errors: string[] } }).page.errors.length > 0, undefined, { timeout: 5000 });
  const errors = await two.evaluate(() => (globalThis as unknown as { page: { errors: string[] } }).page.errors);
  t.match(errors[0], /^TooManySymbolsError: 4 symbols .* more than the 3/, "the refused tab is told, with the figures");
  await sleep(300);
  t.ok(opened.every((s) => !s.includes("OV3") && !s.includes("OV4")), `the leader never carried the refused symbols (${opened.join(" | ")})`);
  t.ok(opened.length > 0 && opened.every((s) => s.split(",").sort().join(",") === "OV1,OV2"), "nor dropped any of its own");
});
