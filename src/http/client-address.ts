/**
 * The address a connection is counted under. Behind a trusted proxy it is taken from
 * X-Forwarded-For: walking from the right, the first hop that is not a trusted proxy is the
 * client (anything left of it was written by the client and can be forged).
 */
export function clientAddress(peer: string, forwardedFor: string, trustedProxies: readonly string[]): string {
  const self = normalize(peer);
  if (trustedProxies.length === 0 || forwardedFor === "" || !trustedProxies.includes(self)) return self;
  const hops = forwardedFor.split(",").map((h) => normalize(h.trim())).filter((h) => h !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trustedProxies.includes(hops[i]!)) return hops[i]!;
  }
  return hops[0] ?? self;
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same client. */
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
  return a;
}
