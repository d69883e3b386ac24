import t from "tap";
import { connect } from "node:net";
import { etagMatches } from "../src/http/static-asset.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast, type Quotecast } from "./helpers/quotecast.js";

// How the server serves the board and its assets: from memory, an allowlist of paths, caching and
// security headers. (The board's behaviour in a browser is test/board.test.ts.)

let nats: NatsServer;
let qc: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  qc = await startQuotecast({ nats: nats.url });
});

t.teardown(async () => {
  await qc?.stop();
  await nats?.cleanup();
});

/** One request written by hand, so the path reaches the server exactly as given (fetch would normalise `..`). */
function rawRequest(port: number, requestLine: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let out = "";
    socket.on("data", (d: Buffer) => (out += d.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => resolve(out));
    socket.write(`${requestLine}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

t.test("board-http - the page: HTML, no-cache, and a CSP without inline code", async (t) => {
  const res = await fetch(qc.base + "/?symbols=AAPL,MSFT");
  t.equal(res.status, 200);
  t.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  t.equal(res.headers.get("cache-control"), "no-cache");
  t.equal(res.headers.get("x-content-type-options"), "nosniff");
  t.equal(res.headers.get("referrer-policy"), "no-referrer");
  const csp = res.headers.get("content-security-policy") ?? "";
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'self'(;|$)/, "scripts from this origin only, no 'unsafe-inline'");
  t.match(csp, /style-src 'self'(;|$)/);
  t.match(csp, /connect-src 'self'(;|$)/);
  const html = await res.text();
  t.notMatch(html, /<script(?![^>]*\ssrc=)/, "no inline script");
  t.notMatch(html, /<style|\sstyle=/, "no inline style");
  t.match(html, /data-default-symbols="AAPL,MSFT,/, "the default list starts with the best-known tickers");
  const again = await fetch(qc.base + "/", { headers: { "If-None-Match": res.headers.get("etag")! } });
  t.equal(again.status, 304, "revalidates to 304");
});

t.test("board-http - assets: content types, ETag, max-age, 304, HEAD", async (t) => {
  for (const [path, type] of [
    ["/assets/board/board.js", "text/javascript; charset=utf-8"],
    ["/assets/board/board.css", "text/css; charset=utf-8"],
  ] as const) {
    const res = await fetch(qc.base + path);
    t.equal(res.status, 200, path);
    t.equal(res.headers.get("content-type"), type, `${path} content type`);
    t.equal(res.headers.get("cache-control"), "public, max-age=300", `${path} max-age`);
    t.equal(res.headers.get("x-content-type-options"), "nosniff");
    const etag = res.headers.get("etag")!;
    t.match(etag, /^"[A-Za-z0-9_-]{22}"$/, `${path} strong ETag`);
    const body = await res.arrayBuffer();
    const cached = await fetch(qc.base + path, { headers: { "If-None-Match": `W/"other", ${etag}` } });
    t.equal(cached.status, 304, `${path} If-None-Match → 304`);
    t.equal((await cached.arrayBuffer()).byteLength, 0, "304 has no body");
    t.equal(cached.headers.get("etag"), etag);
    const head = await fetch(qc.base + path, { method: "HEAD" });
    t.equal(head.status, 200, `${path} HEAD`);
    t.equal(head.headers.get("content-length"), String(body.byteLength), "HEAD gives the length, and no body");
  }
  const script = await (await fetch(qc.base + "/assets/board/board.js")).text();
  t.match(script, /function createClient\(/, "the board script bundles @quotecast/client");
  t.notMatch(script, /^import /m, "one module, nothing to import (a browser cannot resolve a bare package name)");
  const post = await fetch(qc.base + "/assets/board/board.js", { method: "POST" });
  t.equal(post.status, 405);
  t.equal(post.headers.get("allow"), "GET, HEAD");
});

t.test("board-http - unknown asset paths and traversal attempts are 404", async (t) => {
  for (const path of ["/assets/client/nope.js", "/assets/client/index.js", "/assets/", "/assets/board/board.ts", "/assets/client/index.d.ts", "/assets/../package.json", "/assets/%2e%2e/package.json", "/assets/client/../../cli.js", "/assets/board//board.js"]) {
    const res = await rawRequest(qc.port, `GET ${path} HTTP/1.1`);
    t.match(res, /^HTTP\/1\.1 404 /, `${path} → 404`);
    t.match(res, /\{"error":"no such path: /, "with the error body");
  }
  for (const path of ["/assets/" + "x".repeat(1000), "/" + "y".repeat(1000)]) {
    const res = await fetch(qc.base + path);
    t.equal(res.status, 404);
    t.same(await res.json(), { error: `no such path: ${path.slice(0, 200)}…` }, "a long path is echoed cut to 200 characters");
  }
  t.equal((await fetch(qc.base + "/healthz")).status, 200, "and the server is fine");
});

t.test("board-http - etagMatches follows RFC 9110 (weak comparison, lists, *)", async (t) => {
  t.ok(etagMatches('"a"', '"a"'));
  t.ok(etagMatches('W/"a"', '"a"'));
  t.ok(etagMatches('"b", "a"', '"a"'));
  t.ok(etagMatches("*", '"a"'));
  t.notOk(etagMatches("", '"a"'));
  t.notOk(etagMatches('"ab"', '"a"'));
});
