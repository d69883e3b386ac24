import { BlockList, isIP, SocketAddress } from "node:net";

/** A `--trust-proxy` entry that is neither an IP address nor a CIDR range. */
export class InvalidProxyAddressError extends Error {
  override readonly name = "InvalidProxyAddressError";
}

/** The proxies whose X-Forwarded-For is believed: addresses and CIDR ranges, IPv4 and IPv6. */
export interface TrustedProxies {
  readonly empty: boolean;
  /** Is `address` (already normalized) one of them? */
  has(address: string): boolean;
}

/**
 * Parse `10.0.0.0/8,192.168.1.7,fd00::/8,::1`. A bare address is a /32 (/128). Throws
 * InvalidProxyAddressError naming the first entry it cannot use. Matching is node:net's BlockList:
 * prefix arithmetic on the binary address, not string comparison.
 */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf("/");
    const address = normalize(slash < 0 ? entry : entry.slice(0, slash));
    const family = isIP(address);
    if (family === 0) throw new InvalidProxyAddressError(`${JSON.stringify(entry)} is not an IP address or CIDR range (such as 10.0.0.0/8 or fd00::/8)`);
    const max = family === 4 ? 32 : 128;
    const prefix = slash < 0 ? max : /^\d{1,3}$/.test(entry.slice(slash + 1)) ? Number(entry.slice(slash + 1)) : NaN;
    if (!(prefix >= 0 && prefix <= max)) throw new InvalidProxyAddressError(`${JSON.stringify(entry)}: the prefix length must be 0 to ${max}`);
    list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  const empty = entries.length === 0;
  return {
    empty,
    has: (address) => {
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 4 ? "ipv4" : "ipv6");
    },
  };
}

/**
 * One spelling per client: `::ffff:10.0.0.1` is `10.0.0.1`, and uWS's full-length IPv6 text
 * (`2001:0db8:0000:…`) is the short form (`2001:db8::1`) a proxy writes in X-Forwarded-For.
 */
export function normalize(address: string): string {
  const a = address.toLowerCase();
  if (a.startsWith("::ffff:") && a.includes(".")) return a.slice(7);
  if (a.startsWith("0000:0000:0000:0000:0000:ffff:")) {
    const hex = a.slice(30).split(":");
    if (hex.length === 2) {
      const n = (parseInt(hex[0]!, 16) << 16) | parseInt(hex[1]!, 16);
      return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
    }
  }
  if (a.includes(":") && isIP(a) === 6) {
    const short = new SocketAddress({ address: a, family: "ipv6" }).address;
    // `::ffff:a.b.c.d` may come out of the long form too.
    return short.startsWith("::ffff:") && short.includes(".") ? short.slice(7) : short;
  }
  return a;
}
