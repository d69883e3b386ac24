import t from "tap";
import { connect } from "node:net";
import { SignJWT } from "jose";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { metricValue, startQuotecast, type Quotecast } from "./helpers/quotecast.js";

// RFC 9110 §9.3.2: HEAD gets the status and headers a GET would, and never a body. A stray body is
// worse than wasted bytes: on a keep-alive connection it is read as the start of the next response.

let nats: NatsServer;
let qc: Quotecast;
/** A server that cannot reach NATS: its /readyz is 503. */
let unready: Quotecast;
/** --max-connections 1, used by one test only. */
let capped: Quotecast;
/** Authentication on, used by one test only. */
let authed: Quotecast;
const SECRET = "s".repeat(40);

t.before(async () => {
  nats = await startNatsServer();
  // Separate processes, started together; each test uses its own.
  [qc, unready, capped, authed] = await Promise.all([
    startQuotecast({ nats: nats.url }),
    startQuotecast({ nats: "nats://127.0.0.1:1", waitReady: false }),
    startQuotecast({ nats: nats.url, args: ["--max-connections", "1"] }),
    startQuotecast({ nats: nats.url, env: { QUOTECAST_AUTH_HS256_SECRET: SECRET } }),
  ]);
});

t.teardown(async () => {
  await Promise.all([qc?.stop(), unready?.kill(), capped?.stop(), authed?.stop()]);
  await nats?.cleanup();
});

interface RawResponse {
  readonly statusLine: string;
  /** Header lines, lower-cased names, without Date (which differs between two answers). */
  readonly headers: Map<string, string>;
  readonly head: string;
}

/** Send `raw` on one socket; resolve with every byte received once `done(bytes)` holds or the peer closes. */
function exchange(port: number, raw: string, done: (bytes: string) => boolean = () => false, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let out = "";
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      if (done(out)) finish();
    });
    socket.on("error", reject);
    socket.on("close", finish);
    socket.write(raw);
  });
}

function parseHead(bytes: string): RawResponse {
  const end = bytes.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no complete header block in ${JSON.stringify(bytes.slice(0, 300))}`);
  const [statusLine, ...lines] = bytes.slice(0, end).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(":");
    const name = line.slice(0, i).toLowerCase();
    if (name !== "date") headers.set(name, line.slice(i + 1).trim());
  }
  return { statusLine: statusLine!, headers, head: bytes.slice(0, end + 4) };
}

const request = (method: string, target: string, extra = "") => `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
const HEALTHZ_CLOSE = request("GET", "/healthz", "Connection: close\r\n");

// Every GET route, answering 200 and each error a GET can get. /quotes streams: its GET is read up
// to the end of its headers.
const cases: readonly [string, string][] = [
  ["/healthz", "200"],
  ["/readyz", "200"],
  ["/", "200"],
  ["/?symbols=AAPL,MSFT", "200"],
  ["/assets/board/board.js", "200"],
  ["/assets/board/board.css", "200"],
  ["/quotes?symbols=AAPL,MSFT", "200"],
  ["/quotes", "400"],
  ["/quotes?symbols=AAPL&interval=soon", "400"],
  ["/quotes?symbols=aapl%20msft", "400"],
  ["/no/such/path", "404"],
  ["/assets/../package.json", "404"],
  ["/assets/board/nothing.js", "404"],
  ["/" + "x".repeat(20_000), "414"],
];

for (const [target, status] of cases) {
  t.test(`http-head - HEAD ${target.slice(0, 40)}: the GET's status and headers, no body, and the next pipelined response intact`, async (t) => {
    const get = parseHead(await exchange(qc.port, request("GET", target, "Connection: close\r\n"), (b) => b.includes("\r\n\r\n") && target.startsWith("/quotes?symbols=AAPL,")));
    t.match(get.statusLine, new RegExp(`^HTTP/1.1 ${status} `), "the GET's status");
    // The HEAD and then a GET on the same keep-alive connection, written in one go.
    const bytes = await exchange(qc.port, request("HEAD", target) + HEALTHZ_CLOSE);
    const head = parseHead(bytes);
    t.equal(head.statusLine, get.statusLine, "same status");
    t.same([...head.headers].sort(), [...get.headers].sort(), "same headers");
    const rest = bytes.slice(head.head.length);
    const next = parseHead(rest);
    t.equal(next.statusLine, "HTTP/1.1 200 OK", "the next response starts right after the HEAD's headers: no body came between");
    t.ok(rest.endsWith('{"status":"ok"}'), "and is the /healthz answer, whole");
  });
}

t.test("http-head - HEAD /readyz while not ready: 503 with Retry-After, no body", async (t) => {
  const get = parseHead(await exchange(unready.port, request("GET", "/readyz", "Connection: close\r\n")));
  t.match(get.statusLine, /^HTTP\/1.1 503 /);
  const bytes = await exchange(unready.port, request("HEAD", "/readyz") + HEALTHZ_CLOSE);
  const head = parseHead(bytes);
  t.equal(head.statusLine, get.statusLine);
  t.equal(head.headers.get("retry-after"), "1");
  t.same([...head.headers].sort(), [...get.headers].sort(), "same headers");
  t.match(bytes.slice(head.head.length), /^HTTP\/1.1 200 OK\r\n/, "no body between the 503's headers and the next response");
});

t.test("http-head - HEAD /quotes opens no stream and holds no slot: a GET is admitted after many HEADs", async (t) => {
  for (let i = 0; i < 5; i++) {
    const bytes = await exchange(capped.port, request("HEAD", "/quotes?symbols=AAPL") + HEALTHZ_CLOSE);
    t.match(bytes, /^HTTP\/1.1 200 OK\r\n[\s\S]*?\r\n\r\nHTTP\/1.1 200 OK\r\n/, `HEAD ${i + 1}: 200, then the next response at once`);
  }
  const get = await exchange(capped.port, request("GET", "/quotes?symbols=AAPL", "Connection: close\r\n"), (b) => b.includes("event: snapshot"));
  t.match(get, /^HTTP\/1.1 200 OK\r\n/, "the one slot is still free for a stream");
  t.match(get, /event: snapshot/);
  t.equal(metricValue(await capped.metrics(), "quotecast_connections"), 0, "no connection left behind by the HEADs or the closed GET");
});

t.test("http-head - HEAD /quotes on an authenticated server: 401 without a token, 200 with one, never a body", async (t) => {
  const get = parseHead(await exchange(authed.port, request("GET", "/quotes?symbols=AAPL", "Connection: close\r\n")));
  t.match(get.statusLine, /^HTTP\/1.1 401 /);
  const bytes = await exchange(authed.port, request("HEAD", "/quotes?symbols=AAPL") + HEALTHZ_CLOSE);
  const head = parseHead(bytes);
  t.equal(head.statusLine, get.statusLine);
  t.same([...head.headers].sort(), [...get.headers].sort(), "same headers, WWW-Authenticate included");
  t.match(bytes.slice(head.head.length), /^HTTP\/1.1 200 OK\r\n/, "no body");
  const token = await new SignJWT({ symbols: ["*"] }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(new TextEncoder().encode(SECRET));
  const auth = `Authorization: Bearer ${token}\r\n`;
  const getOk = parseHead(await exchange(authed.port, request("GET", "/quotes?symbols=AAPL", auth), (b) => b.includes("\r\n\r\n")));
  t.equal(getOk.statusLine, "HTTP/1.1 200 OK");
  // The token check is asynchronous, so this HEAD is not pipelined (uWS closes a connection whose
  // next request arrives while an answer is pending): the connection must stay open and silent.
  const headOk = await exchange(authed.port, request("HEAD", "/quotes?symbols=AAPL", auth), undefined, 1000);
  const parsed = parseHead(headOk);
  t.equal(parsed.statusLine, getOk.statusLine);
  t.same([...parsed.headers].sort(), [...getOk.headers].sort(), "same headers");
  t.equal(headOk.slice(parsed.head.length), "", "no body, and nothing else for a second");
});
