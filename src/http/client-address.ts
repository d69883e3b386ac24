import { normalize, parseTrustedProxies, type TrustedProxies } from "../config/trusted-proxies.js";

// Parsed with the rest of the configuration (a bad entry stops the start); re-exported for callers here.
export { InvalidProxyAddressError, normalize, parseTrustedProxies, type TrustedProxies } from "../config/trusted-proxies.js";

// The route holds the configured list as an array for the worker's life: parse it once, not per
// connection.
const parsed = new WeakMap<readonly string[], TrustedProxies>();

function trusted(list: readonly string[] | TrustedProxies): TrustedProxies {
  if (!Array.isArray(list)) return list as TrustedProxies;
  const array = list as readonly string[];
  let t = parsed.get(array);
  if (t === undefined) parsed.set(array, (t = parseTrustedProxies(array)));
  return t;
}

/**
 * The address a connection is counted under. Behind a trusted proxy it is taken from
 * X-Forwarded-For: walking from the right, the first hop that is not a trusted proxy is the
 * client (anything left of it was written by the client and can be forged). When every hop is
 * trusted, the left-most one is the best there is. Called once per connection, never per frame.
 */
export function clientAddress(peer: string, forwardedFor: string, trustedProxies: readonly string[] | TrustedProxies): string {
  const self = normalize(peer);
  const proxies = trusted(trustedProxies);
  if (proxies.empty || forwardedFor === "" || !proxies.has(self)) return self;
  const hops = forwardedFor.split(",").map((h) => normalize(stripPort(h.trim()))).filter((h) => h !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!proxies.has(hops[i]!)) return hops[i]!;
  }
  return hops[0] ?? self;
}

/** `1.2.3.4:5678` and `[2001:db8::1]:443` (some proxies add the port) name the address alone. */
function stripPort(hop: string): string {
  if (hop.startsWith("[")) {
    const close = hop.indexOf("]");
    return close > 0 ? hop.slice(1, close) : hop;
  }
  const colon = hop.indexOf(":");
  return colon > 0 && colon === hop.lastIndexOf(":") && hop.includes(".") ? hop.slice(0, colon) : hop;
}
