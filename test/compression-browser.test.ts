import t from "tap";
import { chromium, type Browser, type Response } from "playwright-core";
import { CHROMIUM_ARGS, chromiumForTest } from "./helpers/chromium.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { startQuotecast, type Quotecast } from "./helpers/quotecast.js";

// A browser's own EventSource on a gzip stream (Debian's headless Chromium, real nats-server and
// quotecast): each event must reach the page when it is written, not when more bytes follow.

const CHROMIUM = chromiumForTest(t);

let nats: NatsServer;
let pub: TestPublisher;
let qc: Quotecast;
let browser: Browser;

t.before(async () => {
  nats = await startNatsServer();
  pub = await TestPublisher.connect(nats.url);
  qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--compression", "gzip"] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

t.teardown(async () => {
  await browser?.close();
  await qc?.stop();
  await pub?.close();
  await nats?.cleanup();
});

t.test("compression browser - Chromium's EventSource gets every gzip event as soon as it is written", async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${qc.base}/healthz`);
  const stream = page.waitForResponse((r: Response) => r.url().includes("/quotes?"));
  await page.evaluate(() => {
    const w = window as unknown as { got: { type: string; keys: string[] }[]; es: EventSource };
    w.got = [];
    w.es = new EventSource("/quotes?symbols=CGA,CGB");
    for (const type of ["snapshot", "quotes"]) {
      w.es.addEventListener(type, (e) => w.got.push({ type, keys: (JSON.parse((e as MessageEvent).data) as { sym: string; seq: number }[]).map((q) => `${q.sym}:${q.seq}`) }));
    }
  });
  const headers = await (await stream).allHeaders();
  t.equal(headers["content-encoding"], "gzip", "Chromium asked for gzip and got it");
  t.equal(headers["vary"], "Accept-Encoding");
  await page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length >= 1, undefined, { timeout: 10_000 });
  // One quote at a time, each waited for: a held-back event would never show, as nothing follows it.
  for (let i = 0; i < 6; i++) {
    const sent = Date.now();
    const q = pub.quote(i % 2 === 0 ? "CGA" : "CGB");
    // seq counts per symbol: a quote is its symbol and its seq.
    const key = `${q.sym}:${q.seq}`;
    await page.waitForFunction((k) => (window as unknown as { got: { keys: string[] }[] }).got.some((e) => e.keys.includes(k)), key, { timeout: 5000, polling: 10 });
    // Timed here: the page's clock is not this process's.
    const took = Date.now() - sent;
    const got = await page.evaluate(() => (window as unknown as { got: { type: string; keys: string[] }[] }).got.at(-1)!);
    t.equal(got.type, "quotes");
    t.same(got.keys, [key], `event ${i}: the quote just published`);
    t.ok(took < 1000, `event ${i} seen in the page ${took} ms after its publish`);
  }
  t.same(errors, [], "no page errors");
  const state = await page.evaluate(() => (window as unknown as { es: EventSource }).es.readyState);
  t.equal(state, 1, "the EventSource is still open (no decoding error closed it)");
});
