import t from "tap";
import { Admission, localShare, MIN_BURST_PER_IP, TokenBucket } from "../src/cluster/admission.js";
import { clientAddress, normalize } from "../src/http/client-address.js";

const open = { maxConnections: 1_000_000, maxConnectionsPerIp: 1_000_000, maxConnectRate: 0, maxConnectRatePerIp: 0 };

t.test("admission - the server-wide cap admits up to the cap and never beyond", async (t) => {
  const a = new Admission({ ...open, maxConnections: 3 });
  t.same([1, 2, 3].map((i) => a.admit(`10.0.0.${i}`, 0).ok), [true, true, true]);
  const v = a.admit("10.0.0.9", 0);
  t.equal(v.ok, false);
  if (!v.ok) {
    t.equal(v.reason, "max_connections");
    t.ok(v.retryAfterSeconds >= 5 && v.retryAfterSeconds <= 15, `Retry-After ${v.retryAfterSeconds} s, with jitter`);
  }
  a.release("10.0.0.2");
  t.equal(a.admit("10.0.0.9", 0).ok, true, "a released slot is usable at once");
  t.equal(a.open, 3);
});

t.test("admission - the per-address cap counts each address on its own", async (t) => {
  const a = new Admission({ ...open, maxConnectionsPerIp: 2 });
  t.equal(a.admit("1.1.1.1", 0).ok, true);
  t.equal(a.admit("1.1.1.1", 0).ok, true);
  t.match(a.admit("1.1.1.1", 0), { ok: false, reason: "max_connections_per_ip" });
  t.equal(a.admit("2.2.2.2", 0).ok, true, "another address is not affected");
  a.release("1.1.1.1");
  t.equal(a.openFor("1.1.1.1"), 1);
  t.equal(a.admit("1.1.1.1", 0).ok, true);
});

t.test("admission - a refused connection spends no rate token", async (t) => {
  const a = new Admission({ ...open, maxConnections: 1, maxConnectRate: 2 });
  t.equal(a.admit("a", 0).ok, true);
  t.match(a.admit("b", 0), { ok: false, reason: "max_connections" });
  a.release("a");
  t.equal(a.admit("b", 0).ok, true, "the second token is still there");
});

t.test("admission - the connect rate is limited server-wide and refills over time", async (t) => {
  const a = new Admission({ ...open, maxConnectRate: 10 });
  let admitted = 0;
  for (let i = 0; i < 50; i++) if (a.admit(`ip${i}`, 0).ok) admitted++;
  t.equal(admitted, 10, "a burst of one second's worth");
  t.match(a.admit("late", 0), { ok: false, reason: "connect_rate" });
  t.equal(a.admit("later", 100).ok, true, "one more token after 100 ms at 10/s");
  t.equal(a.admit("again", 100).ok, false);
});

t.test("admission - the per-address rate admits a burst of at least 500", async (t) => {
  const a = new Admission({ ...open, maxConnectRatePerIp: 20 });
  let admitted = 0;
  for (let i = 0; i < 1000; i++) if (a.admit("9.9.9.9", 0).ok) admitted++;
  t.equal(admitted, MIN_BURST_PER_IP);
  t.match(a.admit("9.9.9.9", 0), { ok: false, reason: "connect_rate_per_ip" });
  t.equal(a.admit("8.8.8.8", 0).ok, true, "other addresses keep their own bucket");
  t.equal(a.admit("9.9.9.9", 50).ok, true, "refills at 20/s");
});

t.test("admission - a worker's local share divides every limit and never adds up to more than the whole", async (t) => {
  const share = localShare({ maxConnections: 101, maxConnectionsPerIp: 50, maxConnectRate: 20, maxConnectRatePerIp: 0 }, 2);
  t.same(share, { maxConnections: 50, maxConnectionsPerIp: 25, maxConnectRate: 10, maxConnectRatePerIp: 0, minBurstPerIp: 250 });
  t.equal(localShare({ ...open, maxConnectionsPerIp: 3 }, 4).maxConnectionsPerIp, 0, "a cap below the worker count: refuse rather than exceed");
  const a = new Admission(localShare({ ...open, maxConnectionsPerIp: 4 }, 2));
  a.hold("1.1.1.1");
  t.equal(a.admit("1.1.1.1", 0).ok, true, "held connections count against the share");
  t.match(a.admit("1.1.1.1", 0), { ok: false, reason: "max_connections_per_ip" });
  const slow = new Admission(localShare({ ...open, maxConnectRate: 1 }, 4));
  t.same([slow.admit("a", 0).ok, slow.admit("b", 0).ok, slow.admit("c", 3999).ok, slow.admit("d", 4000).ok], [true, false, false, true], "a quarter token a second");
});

t.test("admission - token bucket arithmetic", async (t) => {
  const b = new TokenBucket(4, 2);
  t.same([b.take(0), b.take(0), b.take(0)], [true, true, false]);
  t.same([b.take(249), b.take(250)], [false, true], "a token every 250 ms");
  t.same([b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, false], "never more than the burst");
});

t.test("client-address - the peer is the client unless it is a trusted proxy", async (t) => {
  t.equal(clientAddress("203.0.113.7", "1.2.3.4", []), "203.0.113.7", "X-Forwarded-For ignored without --trust-proxy");
  t.equal(clientAddress("203.0.113.7", "1.2.3.4", ["10.0.0.1"]), "203.0.113.7", "ignored from an untrusted peer");
  t.equal(clientAddress("10.0.0.1", "1.2.3.4", ["10.0.0.1"]), "1.2.3.4");
  t.equal(clientAddress("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", ["10.0.0.1", "10.0.0.2"]), "1.2.3.4", "the rightmost untrusted hop; what the client wrote is not believed");
  t.equal(clientAddress("10.0.0.1", "", ["10.0.0.1"]), "10.0.0.1");
  t.equal(clientAddress("::ffff:10.0.0.1", "1.2.3.4", ["10.0.0.1"]), "1.2.3.4", "IPv4-mapped peers match");
});

t.test("client-address - IPv4-mapped forms normalise to dotted quads", async (t) => {
  t.equal(normalize("::ffff:127.0.0.1"), "127.0.0.1");
  t.equal(normalize("0000:0000:0000:0000:0000:ffff:7f00:0001"), "127.0.0.1");
  t.equal(normalize("2001:DB8::1"), "2001:db8::1");
});
