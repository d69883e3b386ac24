import t from "tap";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, SignJWT, type JWTPayload } from "jose";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { metricValue, sleep, startQuotecast, waitFor, type Quotecast } from "./helpers/quotecast.js";
import { rawRequest, RawSseClient } from "./helpers/sse-client.js";
import { subscribe } from "@quotecast/client";

const SECRET = "an-hs256-secret-of-at-least-32-bytes!";
const key = new TextEncoder().encode(SECRET);

let nats: NatsServer;
let qc: Quotecast;
let pub: TestPublisher;
const dir = mkdtempSync(join(tmpdir(), "qc-auth-"));

t.before(async () => {
  nats = await startNatsServer();
  qc = await startQuotecast({ nats: nats.url, args: ["--flush-ms", "50", "--cors-origins", "https://board.example"], env: { QUOTECAST_AUTH_HS256_SECRET: SECRET } });
  pub = await TestPublisher.connect(nats.url);
});

t.teardown(async () => {
  await pub?.close();
  await qc?.stop();
  await nats?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function hs256(claims: JWTPayload, expiresInS = 60, secret: Uint8Array = key): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256" }).setSubject("user-1").setExpirationTime(now + expiresInS).sign(secret);
}

async function get(path: string, headers: Record<string, string> = {}) {
  const r = await rawRequest(qc.port, "GET", path, headers);
  return { ...r, json: JSON.parse(r.body) as { error: string } };
}

t.test("auth - a missing token is 401 with a WWW-Authenticate challenge", async (t) => {
  const r = await get("/quotes?symbols=AAPL");
  t.equal(r.status, 401);
  t.equal(r.headers["www-authenticate"], "Bearer");
  t.match(r.json.error, /authentication required/);
});

t.test("auth - malformed, badly signed, expired and not-yet-valid tokens are 401, each counted by reason", async (t) => {
  const before = await qc.metrics();
  const now = Math.floor(Date.now() / 1000);
  const cases: [string, string, RegExp, string?][] = [
    ["malformed", "not.a.jwt", /not a well-formed JWT/],
    ["bad_signature", await hs256({ symbols: ["*"] }, 60, new TextEncoder().encode("another-secret-that-is-32-bytes-long!!")), /signature/],
    ["expired", await hs256({ symbols: ["*"] }, -10), /expired/],
    ["not_yet_valid", await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "HS256" }).setNotBefore(now + 600).setExpirationTime(now + 900).sign(key), /not valid yet/],
    ["malformed", await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "HS256" }).sign(key), /exp/],
    ["malformed", await hs256({ symbols: "AAPL" }), /symbols claim/],
    // Read once as trimmed and Unicode upper-cased: everything, I* (so IBM), and FF.
    ["malformed", await hs256({ symbols: [" *"] }), /symbols claim/],
    ["malformed", await hs256({ symbols: ["ı*"] }), /symbols claim/, "IBM"],
    ["malformed", await hs256({ symbols: ["ﬀ"] }), /symbols claim/, "FF"],
  ];
  for (const [reason, token, message, symbol = "AAPL"] of cases) {
    const r = await get(`/quotes?symbols=${symbol}`, { Authorization: `Bearer ${token}` });
    t.equal(r.status, 401, reason);
    t.match(r.json.error, message, reason);
    t.equal(r.headers["www-authenticate"], 'Bearer error="invalid_token"');
    t.notMatch(r.body, token, "the token is not echoed");
  }
  const none = "eyJhbGciOiJub25lIn0." + Buffer.from(JSON.stringify({ exp: now + 60, symbols: ["*"] })).toString("base64url") + ".";
  t.equal((await get("/quotes?symbols=AAPL", { Authorization: `Bearer ${none}` })).status, 401, "alg none is refused");
  t.equal((await get("/quotes?symbols=AAPL", { Authorization: "Basic dXNlcjpwYXNz" })).status, 401, "another scheme is refused");
  const after = await qc.metrics();
  const delta = (reason: string) => metricValue(after, "quotecast_auth_failures_total", `reason="${reason}"`) - metricValue(before, "quotecast_auth_failures_total", `reason="${reason}"`);
  t.equal(delta("malformed"), 7);
  t.equal(delta("bad_signature"), 2, "a wrong key and alg none");
  t.equal(delta("expired"), 1);
  t.equal(delta("not_yet_valid"), 1);
});

t.test("auth - a token from the header, the query or the cookie opens the stream of entitled symbols", async (t) => {
  const token = await hs256({ symbols: ["AUTHA", "BRK.*"] });
  const q = pub.quote("AUTHA");
  await pub.flush();
  for (const [how, path, headers] of [
    ["header", "/quotes?symbols=autha,BRK.B", { Authorization: `Bearer ${token}` }],
    ["query", `/quotes?symbols=AUTHA&token=${token}`, {}],
    ["cookie", "/quotes?symbols=AUTHA", { Cookie: `theme=dark; quotecast_token=${token}` }],
  ] as const) {
    const c = RawSseClient.open(qc.port, path, headers);
    t.teardown(() => c.close());
    await c.waitFor(() => c.events.length >= 1, 5000, `snapshot via ${how}`);
    t.equal(c.status, 200, how);
    await c.waitFor(() => c.snapshot().length === 1, 5000, "quote in snapshot");
    t.same(c.snapshot(), [q], how);
  }
});

t.test("auth - a symbol outside the entitlements is 403 naming it", async (t) => {
  const token = await hs256({ symbols: ["AAPL", "BTC-*"] });
  const r = await get("/quotes?symbols=AAPL,MSFT,BTC-USD,TSLA", { Authorization: `Bearer ${token}` });
  t.equal(r.status, 403);
  t.equal(r.json.error, "not entitled to symbols MSFT, TSLA");
  t.equal(metricValue(await qc.metrics(), "quotecast_auth_failures_total", 'reason="not_entitled"'), 1);
});

t.test("auth - the stream closes within ~250 ms of the token's exp", async (t) => {
  // Long enough for the snapshot to arrive first on a loaded machine.
  const exp = Math.floor(Date.now() / 1000) + 3;
  const token = await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(key);
  const c = RawSseClient.open(qc.port, "/quotes?symbols=EXPIRY", { Authorization: `Bearer ${token}` });
  t.teardown(() => c.close());
  await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
  await c.waitFor(() => c.ended || c.closed, 6000, "end of stream at expiry");
  const lateMs = Date.now() - exp * 1000;
  t.ok(lateMs >= 0, `not before exp (${lateMs} ms)`);
  // The promise (README): one sweep every 250 ms, and exp is whole seconds, so a stream is due at
  // the first sweep at or after exp: at most 250 ms late by design. Margin: another 250 ms for
  // timers and a loopback read on a loaded 2-core machine. A 1 s sweep fails this about half the time.
  t.ok(lateMs < 500, `within 250 ms of exp plus 250 ms margin (${lateMs} ms late)`);
  t.match(c.body, /: token expired\n\n$/);
});

t.test("auth - the SDK gets a fresh token from its callback when the stream closes at expiry, and ends with the latest values", async (t) => {
  // Tokens that live 2 s: the first stream is closed at its exp, and the SDK must reconnect with
  // the next token the callback gives, resume, and hold exactly what was published meanwhile.
  let issued = 0;
  const token = async () => {
    issued++;
    const exp = Math.floor(Date.now() / 1000) + 2;
    return new SignJWT({ symbols: ["SDKA", "SDKB"] }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(key);
  };
  const latest = new Map<string, unknown>();
  const publish = (sym: string) => latest.set(sym, pub.quote(sym));
  publish("SDKA");
  publish("SDKB");
  await pub.flush();
  const expiredBefore = metricValue(await qc.metrics(), "quotecast_auth_failures_total", 'reason="expired"');
  const statuses: string[] = [];
  const sub = subscribe(qc.base, ["SDKA", "SDKB"], { onStatus: (s) => statuses.push(s) }, { token, minBackoffMs: 50, maxBackoffMs: 200 });
  t.teardown(() => sub.close());
  const matches = () => ["SDKA", "SDKB"].every((s) => JSON.stringify(sub.quotes.get(s)) === JSON.stringify(latest.get(s)));
  await waitFor(() => sub.status === "live" && matches(), 5000, "first snapshot");
  const firstIssued = issued;
  // Keep publishing across the expiry of the first token (and likely the second).
  for (let i = 0; i < 25; i++) {
    publish(i % 2 ? "SDKA" : "SDKB");
    await sleep(200);
  }
  await pub.flush();
  await waitFor(() => sub.status === "live" && matches(), 5000, "the SDK's map equals the latest published values");
  t.ok(issued > firstIssued, `the callback was asked for a fresh token (${issued} issued)`);
  t.ok(statuses.includes("reconnecting"), "the expired stream was closed and the SDK reconnected");
  t.equal(metricValue(await qc.metrics(), "quotecast_auth_failures_total", 'reason="expired"') - expiredBefore, 0, "no request went out with an expired token");
});

t.test("auth - CORS: an allowed origin gets its origin back, others 403, preflight answered", async (t) => {
  const token = await hs256({ symbols: ["*"] });
  const c = RawSseClient.open(qc.port, `/quotes?symbols=CORS&token=${token}`, { Origin: "https://board.example" });
  t.teardown(() => c.close());
  await c.waitFor(() => c.status !== 0, 5000, "headers");
  t.equal(c.headers["access-control-allow-origin"], "https://board.example");
  t.equal(c.headers["access-control-allow-credentials"], "true");
  t.equal(c.headers["vary"], "Origin");

  const other = await get(`/quotes?symbols=CORS&token=${token}`, { Origin: "https://evil.example" });
  t.equal(other.status, 403);
  t.match(other.json.error, /origin/);
  t.equal(other.headers["access-control-allow-origin"], undefined);

  const same = RawSseClient.open(qc.port, `/quotes?symbols=CORS&token=${token}`, { Origin: `http://127.0.0.1:${qc.port}` });
  t.teardown(() => same.close());
  await same.waitFor(() => same.status !== 0, 5000, "headers");
  t.equal(same.status, 200, "the server's own origin needs no allowlist");

  const pre = await rawRequest(qc.port, "OPTIONS", "/quotes?symbols=CORS", { Origin: "https://board.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" });
  t.equal(pre.status, 204);
  t.equal(pre.headers["access-control-allow-origin"], "https://board.example");
  t.match(pre.headers["access-control-allow-headers"], /Authorization/);
  t.equal(pre.headers["access-control-allow-methods"], "GET");
  const badPre = await rawRequest(qc.port, "OPTIONS", "/quotes", { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" });
  t.equal(badPre.status, 403);
});

t.test("auth - tokens never reach the log", async (t) => {
  const token = await hs256({ symbols: ["*"] });
  await get(`/quotes?symbols=BAD!&token=${token}`);
  await get(`/nowhere?token=${token}`);
  await get("/quotes?symbols=AAPL", { Authorization: `Bearer ${token}x` });
  t.notMatch(qc.output(), token.slice(-20));
  t.notMatch(qc.output(), SECRET);
});

t.test("auth - RS256 with a PEM key and EdDSA with a JWKS file", async (t) => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = join(dir, "rsa.pem");
  writeFileSync(pem, rsa.publicKey.export({ type: "spki", format: "pem" }));
  const ed = generateKeyPairSync("ed25519");
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(ed.publicKey)), kid: "k1", alg: "EdDSA" }] }));
  const exp = Math.floor(Date.now() / 1000) + 60;
  const cases = [
    ["RS256", pem, await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "RS256" }).setExpirationTime(exp).sign(rsa.privateKey), await hs256({ symbols: ["*"] })],
    ["EdDSA", jwks, await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "EdDSA", kid: "k1" }).setExpirationTime(exp).sign(ed.privateKey), await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setExpirationTime(exp).sign(rsa.privateKey)],
  ] as const;
  // One server per key, started together; each is then checked on its own.
  const servers = await Promise.all(cases.map(([, file]) => startQuotecast({ nats: nats.url, args: ["--auth-public-key", file] })));
  t.teardown(() => Promise.all(servers.map((s) => s.stop())));
  for (const [i, [name, , token, wrong]] of cases.entries()) {
    const server = servers[i]!;
    const c = RawSseClient.open(server.port, "/quotes?symbols=PK", { Authorization: `Bearer ${token}` });
    t.teardown(() => c.close());
    await c.waitFor(() => c.events.length >= 1, 5000, `${name} snapshot`);
    t.equal(c.status, 200, name);
    const r = await rawRequest(server.port, "GET", "/quotes?symbols=PK", { Authorization: `Bearer ${wrong}` });
    t.equal(r.status, 401, `${name}: a token signed otherwise is refused`);
  }
});

t.test("auth - an unusable key stops the server at start with a clear message", async (t) => {
  // Two separate servers, started together.
  await Promise.all([
    t.rejects(startQuotecast({ nats: nats.url, args: ["--auth-hs256-secret", "short"], timeoutMs: 5000 }), /at least 32 bytes/),
    t.rejects(startQuotecast({ nats: nats.url, args: ["--auth-public-key", join(dir, "absent.pem")], timeoutMs: 5000 }), /cannot read/),
  ]);
});

