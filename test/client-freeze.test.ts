import t, { type Test } from "tap";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { BrowserContext, Page } from "playwright-core";
import { chromiumForTest, launchTabbedChromium } from "./helpers/chromium.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";

// @quotecast/client in Debian's headless Chromium: the leader tab of a shared connection is frozen
// (Page Lifecycle, through CDP) or hangs, and another tab takes the stream over, resuming by event
// id. Measured times are printed as test comments (`# ...`).
//
// What Chromium does to a tab frozen with the DevTools protocol (`Page.setWebLifecycleState`), as
// probed while building this: with Playwright's own launch nothing at all (its focus emulation
// keeps every page visible, and a visible page is not frozen), hence launchTabbedChromium. There,
// the tab gets `freeze` (and `resume` when made active again); its timers and fetch streams stop,
// its Web Lock stays held (a `steal` takes it at once) and its stream stays open on the server; but
// BroadcastChannel handlers and lock callbacks still run (so the leader answers pings from a timer).

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CHROMIUM = chromiumForTest(t);

let nats: NatsServer;
let pub: TestPublisher;
let qc: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
  qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "20"] });
});

t.teardown(async () => {
  await qc?.stop();
  await pub?.close();
  await nats?.cleanup();
});

const connections = async (): Promise<number> => metricValue(await qc.metrics(), "quotecast_connections");

// Each tab subscribes to the symbols in its hash and records every seq its listener is given: a
// quote delivered twice, or an older one after a newer one, is written down in `bad`.
const TAB = `
import { createClient } from "@quotecast/client";
const syms = location.hash.slice(1).split(",");
const client = createClient(location.origin);
const seen = {};
const bad = [];
const sub = client.subscribe(syms, (_s, changed) => {
  for (const q of changed) {
    const prev = seen[q.sym]?.at(-1);
    if (prev !== undefined && q.seq <= prev) bad.push(q.sym + " " + prev + " then " + q.seq);
    (seen[q.sym] ??= []).push(q.seq);
  }
});
// The last messages of the tabs' channel, for a failure to show.
const heard = [];
new BroadcastChannel("quotecast:" + location.origin).onmessage = (e) => { heard.push(Date.now() % 100000 + " " + e.data.t + " " + e.data.from.slice(0, 4)); if (heard.length > 30) heard.shift(); };
globalThis.page = { client, sub, bad, heard };
`;

type TabPage = { client: { role: string; status: string }; sub: { getSnapshot(): { quotes: Record<string, { seq: number }> } }; bad: string[]; heard: string[] };

/** A Chromium of its own (tabs of one window, see launchTabbedChromium) serving the TAB page. */
async function tabContext(t: Test): Promise<{ context: BrowserContext; errors: string[] }> {
  const chromium = await launchTabbedChromium(CHROMIUM);
  t.teardown(() => chromium.close());
  const context = chromium.context;
  const errors: string[] = [];
  context.on("page", (page) => {
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  });
  const out = await build({ stdin: { contents: TAB, resolveDir: ROOT, loader: "ts", sourcefile: "tab.ts" }, bundle: true, write: false, format: "esm", target: "es2022", logLevel: "silent" });
  const script = out.outputFiles[0]!.text;
  await context.route(qc.base + "/tab", (route) => route.fulfill({ contentType: "text/html; charset=utf-8", body: `<!doctype html><meta charset="utf-8"><script type="module" src="/tab.js"></script>` }));
  await context.route(qc.base + "/tab.js", (route) => route.fulfill({ contentType: "text/javascript; charset=utf-8", body: script }));
  return { context, errors };
}

const role = (page: Page): Promise<string> => page.evaluate(() => (globalThis as unknown as { page: TabPage }).page.client.role);
const seqs = (page: Page, syms: string[]): Promise<(number | undefined)[]> =>
  page.evaluate((ss) => ss.map((s) => (globalThis as unknown as { page: TabPage }).page.sub.getSnapshot().quotes[s]?.seq), syms);
const bad = (page: Page): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { page: TabPage }).page.bad);

/**
 * Four tabs with symbols of their own, a feed running; `stop` stops the leader tab (and returns
 * how to let it run again). Another tab must hold the stream in time, every live tab end with
 * the latest quote of each of its symbols, none twice or out of order, and the old leader, running
 * again, follow with live quotes, over one connection.
 */
async function scenario(
  t: Test,
  name: string,
  stop: (page: Page, context: BrowserContext) => Promise<() => Promise<void>>,
  /** The most the takeover may take; `connections` while the leader is stopped, if asserted. */
  expect: { takeoverMs: number; connections?: number },
  prepare?: (page: Page) => Promise<void>,
): Promise<void> {
  const { context, errors } = await tabContext(t);
  const tabs = Array.from({ length: 4 }, (_, i) => [`${name}${i}A`, `${name}${i}B`]);
  const pages: Page[] = [];
  for (const syms of tabs) {
    const page = await context.newPage();
    await page.goto(`${qc.base}/tab#${syms.join(",")}`);
    pages.push(page);
  }
  const latest = new Map<string, number>();
  const publishAll = (): void => {
    for (const s of tabs.flat()) latest.set(s, pub.quote(s).seq);
  };
  const holdsLatest = async (i: number): Promise<boolean> => (await seqs(pages[i]!, tabs[i]!)).every((seq, j) => seq === latest.get(tabs[i]![j]!));
  publishAll();
  await waitFor(async () => (await Promise.all(pages.map((_, i) => holdsLatest(i)))).every(Boolean), 10_000, "every tab holds its quotes");
  await waitFor(async () => (await connections()) === 1, 5000, "quotecast_connections = 1");
  const roles = await Promise.all(pages.map(role));
  t.same(roles.filter((r) => r === "leader").length, 1, "one tab leads");
  const leader = roles.indexOf("leader");
  const others = pages.map((_, i) => i).filter((i) => i !== leader);

  const feed = setInterval(publishAll, 40);
  t.teardown(() => clearInterval(feed));
  await sleep(300);
  await prepare?.(pages[leader]!);
  const stoppedAt = Date.now();
  const resume = await stop(pages[leader]!, context);
  // Quotes published from here on were published with the leader stopped.
  const atStop = new Map(latest);
  // Taken over: a quote published after the stop is held by a tab that still runs.
  await waitFor(async () => {
    for (const i of others) if (((await seqs(pages[i]!, [tabs[i]![0]!]))[0] ?? 0) > atStop.get(tabs[i]![0]!)!) return true;
    return false;
  }, 10_000, "a quote published after the leader stopped, held by another tab").catch(async (err: Error) => {
    const state = await Promise.all(others.map((i) => pages[i]!.evaluate(async () => [(globalThis as unknown as { page: TabPage }).page.client.role, document.visibilityState, Date.now() % 100000, (globalThis as unknown as { page: TabPage }).page.heard])));
    throw new Error(`${err.message}: ${JSON.stringify(state)}`);
  });
  const takeoverMs = Date.now() - stoppedAt;
  t.ok(takeoverMs <= expect.takeoverMs, `another tab holds the stream ${takeoverMs} ms after the leader stopped (at most ${expect.takeoverMs})`);
  const newRoles = await Promise.all(others.map((i) => role(pages[i]!)));
  t.equal(newRoles.filter((r) => r === "leader").length, 1, `one of the other tabs leads (${newRoles.join(" ")})`);
  t.comment(`quotecast_connections while the old leader is stopped: ${await connections()}`);
  const conns = expect.connections;
  if (conns !== undefined) {
    await waitFor(async () => (await connections()) === conns, 3000, `quotecast_connections = ${conns} while the old leader is stopped`);
    await sleep(500);
    t.equal(await connections(), conns, `quotecast_connections = ${conns} while the old leader is stopped`);
  }
  await sleep(300);
  clearInterval(feed);
  await pub.flush();
  await waitFor(async () => (await Promise.all(others.map(holdsLatest))).every(Boolean), 5000, "every running tab holds the latest quote of each of its symbols");
  t.pass("every running tab holds the latest published quote of each of its symbols");

  // The old leader runs again: it follows, and gets live quotes.
  const resumedAt = Date.now();
  await resume();
  await waitFor(async () => (await role(pages[leader]!)) === "follower", 5000, "the old leader follows");
  t.pass(`the old leader follows (${Date.now() - resumedAt} ms after it ran again)`);
  publishAll();
  await pub.flush();
  await waitFor(async () => (await Promise.all(pages.map((_, i) => holdsLatest(i)))).every(Boolean), 5000, "every tab, the old leader too, holds the latest quotes");
  t.pass("every tab, the old leader too, holds the latest published quote of each of its symbols");
  await waitFor(async () => (await connections()) === 1, 5000, "quotecast_connections = 1");
  await sleep(500);
  t.equal(await connections(), 1, "quotecast_connections = 1 with the old leader running again");
  t.same((await Promise.all(pages.map(role))).filter((r) => r === "leader").length, 1, "one tab leads");
  for (let i = 0; i < pages.length; i++) t.same(await bad(pages[i]!), [], `tab ${i}: no quote delivered twice or after a newer one`);
  t.same(errors, [], "no console errors");
  t.comment(`takeover (${name}): ${takeoverMs} ms from stopping the leader tab to a quote published after it held by another tab (4 tabs, --flush-ms 20)`);
}

const freeze = async (page: Page, context: BrowserContext): Promise<() => Promise<void>> => {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  return async () => void (await cdp.send("Page.setWebLifecycleState", { state: "active" }));
};

t.test("client-freeze - the leader tab is frozen: it hands over on the freeze event, another tab holds the stream within 2 s, the frozen tab's stream is closed, it follows when resumed", { timeout: 60_000 }, async (t) => {
  await scenario(t, "FRZ", freeze, { takeoverMs: 2000, connections: 1 });
});

t.test("client-freeze - the leader tab is frozen without a freeze event: another tab steals the lock within 2 s, the frozen tab's stream is closed, it follows when resumed", { timeout: 60_000 }, async (t) => {
  // The client never hears `freeze`: a listener that runs before the client's stops it.
  const hideFreeze = async (page: Page): Promise<void> => void (await page.evaluate(() => addEventListener("freeze", (e) => e.stopImmediatePropagation(), { capture: true })));
  await scenario(t, "FNE", freeze, { takeoverMs: 2000, connections: 1 }, hideFreeze);
});

t.test("client-freeze - the leader tab's main thread hangs for 6 s: another tab steals the lock within 3 s; the old leader closes its stream when it runs again", { timeout: 60_000 }, async (t) => {
  await scenario(
    t,
    "HNG",
    async (page) => {
      const busy = page.evaluate(() => {
        const end = Date.now() + 6000;
        while (Date.now() < end);
      });
      return async () => void (await busy);
    },
    // The hung page's stream stays open until it runs again: two connections meanwhile. The bound
    // is looser than for a freeze: a hung renderer may hold up other tabs of the site it hosts.
    { takeoverMs: 3000, connections: 2 },
  );
});
