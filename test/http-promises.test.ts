import t from "tap";
import { SignJWT } from "jose";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast, type Quotecast } from "./helpers/quotecast.js";
import { rawRequest, RawSseClient } from "./helpers/sse-client.js";

// Promises the README makes about the HTTP surface, each with a test that fails without it.
const SECRET = "an-hs256-secret-of-at-least-32-bytes!";
const key = new TextEncoder().encode(SECRET);

let nats: NatsServer;
let qc: Quotecast;
/** The same server without a connect rate, for tests that open many connections one after another. */
let unlimited: Quotecast;

t.before(async () => {
  nats = await startNatsServer();
  // A server-wide connect rate of 1 a second (burst 1): one spent token is visible at once.
  [qc, unlimited] = await Promise.all([
    startQuotecast({ nats: nats.url, args: ["--max-connect-rate", "1"], env: { QUOTECAST_AUTH_HS256_SECRET: SECRET } }),
    startQuotecast({ nats: nats.url, env: { QUOTECAST_AUTH_HS256_SECRET: SECRET } }),
  ]);
});
t.teardown(async () => {
  await Promise.all([qc?.stop(), unlimited?.stop()]);
  await nats?.cleanup();
});

const token = (secret = key) => new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(Math.floor(Date.now() / 1000) + 60).sign(secret);

t.test("http - 404 echoes the path without its query string", async (t) => {
  const r = await rawRequest(qc.port, "GET", "/no/such/path?token=s3cret-token&symbols=AAPL");
  t.equal(r.status, 404);
  t.same(JSON.parse(r.body), { error: "no such path: /no/such/path" });
  t.notMatch(r.body, /s3cret|token|symbols/, "nothing of the query comes back");
});

t.test("http - tokens are checked before admission: bad tokens do not use up the connect rate", async (t) => {
  // Let the single token of the bucket refill after whatever ran before.
  await new Promise((r) => setTimeout(r, 1100));
  const bad = await token(new TextEncoder().encode("another-secret-that-is-32-bytes-long!!"));
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await rawRequest(qc.port, "GET", "/quotes?symbols=AAPL", { Authorization: `Bearer ${bad}` })).status);
  t.same(statuses, Array(10).fill(401), "every bad token is a 401, none a 503 for the rate");
  const c = RawSseClient.open(qc.port, "/quotes?symbols=AAPL", { Authorization: `Bearer ${await token()}` });
  t.teardown(() => c.close());
  await c.waitFor(() => c.status !== 0, 5000, "a response");
  t.equal(c.status, 200, "the connect-rate token is still there for a good one");
  // And the rate is really 1 a second: the next good one at once is refused.
  const over = await fetch(`${qc.base}/quotes?symbols=AAPL`, { headers: { Authorization: `Bearer ${await token()}` } });
  void over.body?.cancel();
  t.equal(over.status, 503);
});

t.test("http - the first retry: is 1-2 s and jittered", async (t) => {
  const values: number[] = [];
  for (let i = 0; i < 8; i++) {
    // One at a time, on the server without a connect rate (the retry: does not depend on it).
    const c = RawSseClient.open(unlimited.port, "/quotes?symbols=AAPL", { Authorization: `Bearer ${await token()}` });
    await c.waitFor(() => c.events.length >= 1, 5000, "snapshot");
    t.match(c.body, /^retry: \d+\n/, "retry: comes first");
    values.push(...c.retries.slice(0, 1));
    c.close();
  }
  t.equal(values.length, 8);
  t.ok(values.every((v) => v >= 1000 && v <= 2000), `every first retry: in 1000-2000 ms: ${values.join(", ")}`);
  t.ok(new Set(values).size >= 4, `jittered: ${new Set(values).size} distinct values of 8`);
});
