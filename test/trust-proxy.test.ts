import t from "tap";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { startQuotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

// A real server behind a "proxy" range: the per-address cap counts the right-most untrusted
// X-Forwarded-For hop, whichever address of the range the proxy connects from.

let nats: NatsServer;
t.before(async () => {
  nats = await startNatsServer();
});
t.teardown(() => nats?.cleanup());

t.test("trust-proxy - a CIDR range: clients are told apart behind it, forged hops are not believed", async (t) => {
  const qc = await startQuotecast({ nats: nats.url, args: ["--max-connections-per-ip", "2", "--trust-proxy", "10.0.0.0/8,127.0.0.0/8,fd00::/8"] });
  t.teardown(() => qc.stop());
  const from = (xff: string) => RawSseClient.open(qc.port, "/quotes?symbols=TPX", { "X-Forwarded-For": xff });
  // Two clients, each at the cap, via different proxy hops of the trusted range.
  const a = [from("198.51.100.1"), from("198.51.100.1, 10.1.2.3")];
  const b = [from("6.6.6.6, 198.51.100.2"), from("198.51.100.2, 10.9.9.9, 10.8.8.8")];
  t.teardown(() => [...a, ...b].forEach((c) => c.close()));
  for (const c of [...a, ...b]) await c.waitFor(() => c.status !== 0, 5000, "a response");
  t.same([...a, ...b].map((c) => c.status), [200, 200, 200, 200], "two addresses, two each: none refused");
  // A third from 198.51.100.2, with a forged left-most hop and an extra trusted hop: still .2.
  const over = await fetch(`${qc.base}/quotes?symbols=TPX`, { headers: { "X-Forwarded-For": "203.0.113.50, 198.51.100.2, 10.4.4.4" } });
  t.equal(over.status, 503, "the right-most untrusted hop is the client, and it is at its cap");
  t.match(await over.json(), { error: /your address/ });
  const other = await fetch(`${qc.base}/quotes?symbols=TPX`, { headers: { "X-Forwarded-For": "198.51.100.3" } });
  t.equal(other.status, 200, "a third address is let in");
  await other.body?.cancel();
});
