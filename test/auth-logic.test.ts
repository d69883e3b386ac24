import t from "tap";
import fc from "fast-check";
import { SignJWT } from "jose";
import { AUTH_FAILURE_MESSAGES, AuthFailure, tokenFailure } from "../src/auth/auth-failure.js";
import { authorize } from "../src/auth/authorize.js";
import { Entitlements, parseSymbolsClaim } from "../src/auth/entitlements.js";
import { ExpiryWheel } from "../src/auth/expiry-wheel.js";
import { cookieValue, findToken, MAX_TOKEN_LENGTH } from "../src/auth/token-source.js";
import { createTokenVerifier } from "../src/auth/token-verifier.js";
import { authHttpError } from "../src/http/auth-errors.js";
import { decideOrigin } from "../src/http/cors.js";
import { HttpError } from "../src/http/errors.js";
import { checkRequestLimits } from "../src/http/request-limits.js";

t.test("entitlements - exact symbols, prefixes ending in *, and * for everything", async (t) => {
  const e = new Entitlements(["AAPL", "brk.*", "BTC-*"]);
  t.ok(e.allows("AAPL"));
  t.ok(e.allows("BRK.B"));
  t.ok(e.allows("BTC-USD"));
  t.notOk(e.allows("AAP"), "an exact entry is not a prefix");
  t.notOk(e.allows("BRK"), "BRK.* needs the dot");
  t.same(e.missing(["AAPL", "MSFT", "BRK.A", "ETH-USD"]), ["MSFT", "ETH-USD"]);
  t.same(new Entitlements(["*"]).missing(["ANY", "THING"]), []);
  t.same(new Entitlements([]).missing(["A"]), ["A"], "an empty list entitles nothing");
});

t.test("entitlements - the symbols claim must be an array of strings with * only at the end", async (t) => {
  t.same(parseSymbolsClaim(["AAPL", "BRK.*", "*"]), ["AAPL", "BRK.*", "*"]);
  t.equal(parseSymbolsClaim("AAPL"), null);
  t.equal(parseSymbolsClaim([1]), null);
  t.equal(parseSymbolsClaim(["A*PL"]), null);
  t.equal(parseSymbolsClaim(undefined), null);
});

t.test("entitlements - a claim entry is the symbol rule as written, ASCII case aside; anything else is malformed", async (t) => {
  t.same(parseSymbolsClaim(["aapl", "brk.*", "Btc-*", "*", "A".repeat(16), "A".repeat(16) + "*"]), ["AAPL", "BRK.*", "BTC-*", "*", "A".repeat(16), "A".repeat(16) + "*"]);
  // Each of these was read by trimming and Unicode upper-casing: " *" as everything, "ı*" as I*, "ﬀ" as FF.
  for (const entry of [" *", "* ", " AAPL", "AAPL ", "ı*", "ıbm", "ﬀ", "ß", "straße", "\u212Aa", "ſ*", "", "**", ".*", "-A", "A".repeat(17), "A\u0000", "AAPL\n", "A,B", "A B", "Ａ"]) {
    t.equal(parseSymbolsClaim(["AAPL", entry]), null, JSON.stringify(entry));
  }
});

t.test("entitlements - property: every string is either refused or grants only what its ASCII upper-case spells", async (t) => {
  const unit = fc.oneof(fc.constantFrom(..."ABZabz09.-* ıİßﬀſ\u212A\u0130\t"), fc.string({ unit: "binary", minLength: 1, maxLength: 1 }));
  const symbol = fc.stringMatching(/^[A-Z0-9][A-Z0-9.\-]{0,15}$/);
  const asciiRule = /^(?:\*|[A-Za-z0-9][A-Za-z0-9.\-]{0,15}\*?)$/;
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 18 }), fc.array(symbol, { maxLength: 5 }), (entry, symbols) => {
      const parsed = parseSymbolsClaim([entry]);
      if (!asciiRule.test(entry)) return parsed === null;
      const p = entry.replace(/[a-z]/g, (c) => c.toUpperCase());
      if (parsed === null || parsed[0] !== p) return false;
      const e = new Entitlements(parsed);
      const model = (s: string) => p === "*" || s === p || (p.endsWith("*") && s.startsWith(p.slice(0, -1)));
      return symbols.every((s) => e.allows(s) === model(s));
    }),
    { numRuns: 2000, seed: 20261206 },
  );
  t.pass("2000 generated claim entries");
});

t.test("token-source - header first, then query, then cookie", async (t) => {
  t.same(findToken("Bearer aaa", "bbb", "quotecast_token=ccc"), { ok: true, token: "aaa" });
  t.same(findToken("bearer  aaa ", undefined, ""), { ok: true, token: "aaa" });
  t.same(findToken("", "bbb", "quotecast_token=ccc"), { ok: true, token: "bbb" });
  t.same(findToken("", undefined, "a=1; quotecast_token=ccc; b=2"), { ok: true, token: "ccc" });
  t.same(findToken("", undefined, ""), { ok: false, reason: "missing" });
  t.same(findToken("Basic abc", undefined, ""), { ok: false, reason: "malformed" });
  t.same(findToken("Bearer a b", undefined, ""), { ok: false, reason: "malformed" });
  t.same(findToken("", "x".repeat(MAX_TOKEN_LENGTH + 1), ""), { ok: false, reason: "malformed" });
  t.equal(cookieValue('x=1; quotecast_token="q"', "quotecast_token"), "q");
  t.equal(cookieValue("xquotecast_token=1", "quotecast_token"), undefined);
});

t.test("expiry-wheel - items come out at the first sweep at or after their expiry, never before", async (t) => {
  const w = new ExpiryWheel<string>(250);
  w.add("a", 1000);
  w.add("b", 1001);
  w.add("c", 5000);
  t.same(w.due(999), []);
  t.same(w.due(1000), ["a"]);
  t.same(w.due(1249), []);
  t.same(w.due(1250), ["b"]);
  w.remove("c");
  t.same(w.due(10_000), []);
  t.equal(w.size, 0);
  w.add("d", 2000);
  w.add("d", 3000);
  t.same(w.due(2500), [], "re-adding moves an item");
  t.same(w.due(3000), ["d"]);
});

t.test("cors - allowlist, wildcard, same origin, and everything else forbidden", async (t) => {
  t.same(decideOrigin("", "h:1", []), { kind: "no-cors" });
  t.same(decideOrigin("https://a.example", "h:1", ["https://a.example"]), { kind: "allowed", allowOrigin: "https://a.example", credentials: true });
  t.same(decideOrigin("https://b.example", "h:1", ["*"]), { kind: "allowed", allowOrigin: "*", credentials: false });
  t.same(decideOrigin("http://h:1", "h:1", []), { kind: "no-cors" });
  t.same(decideOrigin("https://h:1", "h:1", []), { kind: "no-cors" }, "a TLS-terminating proxy in front");
  t.same(decideOrigin("http://h:2", "h:1", []), { kind: "forbidden" });
  t.same(decideOrigin("null", "h:1", []), { kind: "forbidden" });
  t.same(decideOrigin("https://a.example.evil", "h:1", ["https://a.example"]), { kind: "forbidden" });
});

t.test("request-limits - 414 for a long target, 431 for many or large headers", async (t) => {
  const limits = { maxTargetBytes: 100, maxHeaderBytes: 200, maxHeaderCount: 5 };
  t.doesNotThrow(() => checkRequestLimits(100, 5, 200, limits));
  t.throws(() => checkRequestLimits(101, 1, 1, limits), { name: "UriTooLongError", status: 414 });
  t.throws(() => checkRequestLimits(1, 6, 1, limits), { name: "HeadersTooLargeError", status: 431 });
  t.throws(() => checkRequestLimits(1, 1, 201, limits), { name: "HeadersTooLargeError", status: 431 });
});

t.test("authorize - token reasons, not_entitled naming the symbols, grant with exp", async (t) => {
  const secret = "0123456789abcdef0123456789abcdef";
  const verifier = createTokenVerifier({ hs256Secret: secret })!;
  const key = new TextEncoder().encode(secret);
  const exp = Math.floor(Date.now() / 1000) + 60;
  const token = await new SignJWT({ symbols: ["A*"] }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(key);
  const carriers = (auth: string) => ({ authorization: auth, queryToken: undefined, cookie: "" });
  const grant = await authorize(verifier, carriers(`Bearer ${token}`), ["AB", "AC"], Date.now());
  t.equal(grant.expiresAtMs, exp * 1000);
  // auth knows no transport: its failures carry a reason and a message, no status.
  await t.rejects(authorize(verifier, carriers(""), ["AB"], Date.now()), { name: "AuthFailure", reason: "missing", message: AUTH_FAILURE_MESSAGES.missing });
  await t.rejects(authorize(verifier, carriers(`Bearer ${token}`), ["AB", "B", "C"], Date.now()), { reason: "not_entitled", message: "not entitled to symbols B, C" });
  await t.rejects(authorize(verifier, carriers(`Bearer ${token}`), ["AB"], exp * 1000), { name: "AuthFailure", reason: "expired" });
  const failure = await authorize(verifier, carriers(""), ["AB"], Date.now()).catch((e: unknown) => e);
  t.ok(failure instanceof AuthFailure);
  t.notOk(failure instanceof HttpError, "an auth failure is not an HTTP error");
  // Change one character in the middle of the signature (its 6 bits all count).
  const i = token.length - 10;
  const tampered = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
  await t.rejects(authorize(verifier, carriers(`Bearer ${tampered}`), ["AB"], Date.now()), { name: "AuthFailure", reason: "bad_signature" });
  t.throws(() => createTokenVerifier({ hs256Secret: "short" }), { name: "ConfigError" });
  t.equal(createTokenVerifier({}), null);
});

t.test("auth-errors - http maps each reason to 401 or 403 and WWW-Authenticate", async (t) => {
  const missing = authHttpError(tokenFailure("missing"));
  t.match(missing, { status: 401, message: AUTH_FAILURE_MESSAGES.missing, headers: { "WWW-Authenticate": "Bearer" } });
  for (const reason of ["malformed", "expired", "not_yet_valid", "bad_signature"] as const) {
    t.match(authHttpError(tokenFailure(reason)), { status: 401, message: AUTH_FAILURE_MESSAGES[reason], headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' } }, reason);
  }
  const forbidden = authHttpError(new AuthFailure("not_entitled", "not entitled to symbol B"));
  t.match(forbidden, { status: 403, message: "not entitled to symbol B" });
  t.same(forbidden.headers, {});
  t.equal(authHttpError(new AuthFailure("origin_not_allowed", "no")).status, 403);
});
