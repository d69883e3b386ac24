import t from "tap";
import { clientAddress, normalize, parseTrustedProxies } from "../src/http/client-address.js";

// --trust-proxy behind a Kubernetes ingress: the controller pods change address, so the trusted
// proxies are a range. X-Forwarded-For is read the usual way: the right-most hop that is not a
// trusted proxy is the client; what is left of it was written by the client.

t.test("client-address - CIDR ranges, IPv4", async (t) => {
  const proxies = parseTrustedProxies(["10.0.0.0/8", "192.168.1.7"]);
  t.equal(clientAddress("10.42.3.17", "203.0.113.9", proxies), "203.0.113.9", "any pod of the ingress range is believed");
  t.equal(clientAddress("10.255.255.255", "203.0.113.9", proxies), "203.0.113.9");
  t.equal(clientAddress("11.0.0.1", "203.0.113.9", proxies), "11.0.0.1", "a peer outside the range is the client itself");
  t.equal(clientAddress("192.168.1.7", "203.0.113.9", proxies), "203.0.113.9", "a bare address is a /32");
  t.equal(clientAddress("192.168.1.8", "203.0.113.9", proxies), "192.168.1.8");
  t.equal(clientAddress("::ffff:10.1.2.3", "203.0.113.9", proxies), "203.0.113.9", "an IPv4-mapped peer matches the IPv4 range");
  t.equal(clientAddress("0000:0000:0000:0000:0000:ffff:0a01:0203", "203.0.113.9", proxies), "203.0.113.9", "uWS's long IPv4-mapped form too");
});

t.test("client-address - the right-most untrusted hop, through chained proxies", async (t) => {
  const proxies = parseTrustedProxies(["10.0.0.0/8", "172.16.0.0/12"]);
  t.equal(clientAddress("10.0.0.5", "6.6.6.6, 198.51.100.4, 172.16.9.9", proxies), "198.51.100.4", "a forged left-most hop is not believed");
  t.equal(clientAddress("10.0.0.5", "198.51.100.4,10.1.1.1", proxies), "198.51.100.4");
  t.equal(clientAddress("10.0.0.5", "10.1.1.1, 10.2.2.2", proxies), "10.1.1.1", "every hop trusted: the left-most");
  t.equal(clientAddress("10.0.0.5", "", proxies), "10.0.0.5", "no header: the proxy itself");
  t.equal(clientAddress("10.0.0.5", "198.51.100.4:51234", proxies), "198.51.100.4", "a hop with a port");
  t.equal(clientAddress("10.0.0.5", "[2001:db8::7]:443", proxies), "2001:db8::7", "a bracketed IPv6 hop with a port");
  t.equal(clientAddress("10.0.0.5", "garbage, 198.51.100.4", proxies), "198.51.100.4");
  t.equal(clientAddress("10.0.0.5", "198.51.100.4, garbage", proxies), "garbage", "an unparseable right-most hop is untrusted, so it is the client (one bucket, not the proxy's)");
});

t.test("client-address - IPv6 ranges and spellings", async (t) => {
  const proxies = parseTrustedProxies(["fd00::/8", "::1"]);
  t.equal(clientAddress("fd12:3456::1", "2001:db8::7", proxies), "2001:db8::7");
  t.equal(clientAddress("fd12:3456:0000:0000:0000:0000:0000:0001", "2001:db8::7", proxies), "2001:db8::7", "uWS's full-length text matches");
  t.equal(clientAddress("::1", "2001:DB8:0:0::7", proxies), "2001:db8::7", "one spelling per client");
  t.equal(clientAddress("fe80::1", "2001:db8::7", proxies), "fe80::1", "outside the range");
  t.equal(clientAddress("2001:0db8:0000:0000:0000:0000:0000:0007", "", parseTrustedProxies([])), "2001:db8::7", "the peer's own address is normalized too");
  t.equal(normalize("2001:0DB8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
});

t.test("client-address - no --trust-proxy: X-Forwarded-For is ignored", async (t) => {
  t.equal(clientAddress("203.0.113.7", "1.2.3.4", parseTrustedProxies([])), "203.0.113.7");
  t.equal(clientAddress("203.0.113.7", "1.2.3.4", []), "203.0.113.7");
});

t.test("client-address - bad --trust-proxy entries are refused with the entry named", async (t) => {
  for (const bad of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0", "ingress", "10.0.0.0/8/8", "::1/-1"]) {
    t.throws(() => parseTrustedProxies([bad]), { name: "InvalidProxyAddressError", message: new RegExp(bad.replace(/[./*+?^${}()|[\]\\]/g, "\\$&")) }, bad);
  }
  t.doesNotThrow(() => parseTrustedProxies(["0.0.0.0/0", "::/0", "10.0.0.0/8", "127.0.0.1"]));
});
