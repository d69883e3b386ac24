import t from "tap";
import fc from "fast-check";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { Entitlements, parseSymbolsClaim } from "../src/auth/entitlements.js";
import { findToken } from "../src/auth/token-source.js";
import { createTokenVerifier } from "../src/auth/token-verifier.js";
import { SYMBOL_PATTERN } from "../src/ingest/symbol.js";
import { validateQuote } from "../src/ingest/validate.js";
import { decideOrigin } from "../src/http/cors.js";
import { BadRequestError } from "../src/http/errors.js";
import { MAX_INTERVAL_MS, parseQuotesRequest } from "../src/http/quotes-request.js";
import { formatEventId } from "../src/fanout/event-id.js";
import { quotesEvent, retryField } from "../src/fanout/sse-frames.js";

// Property-based tests: generated hostile input against the pure functions that meet it first.
// A fixed seed keeps CI reproducible; QC_FC_RUNS raises the run count by hand.
const RUNS = Number(process.env.QC_FC_RUNS ?? 500);
const params = { numRuns: RUNS, seed: Number(process.env.QC_FC_SEED ?? 20261126) };
const limits = { maxSymbols: 50, flushMs: 50 };

/** Any string, every code point including lone surrogates, NUL, CR, LF and %-escapes. */
const anyString = fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.string({ unit: fc.constantFrom("%", "0", "a", "A", "&", "=", ",", "+", "\r", "\n", "\u0000", "ß", "ı", ".", "-", ";", " "), maxLength: 200 }));
const symbolish = fc.string({ unit: fc.constantFrom(..."ABCXYZ019.-abzß ,%\r\n*"), minLength: 0, maxLength: 20 });
const queryParts = fc.array(fc.tuple(fc.constantFrom("symbols", "interval", "lastEventId", "token", "x", ""), fc.oneof(symbolish, anyString, fc.double().map(String))), { maxLength: 8 });

/** Whether an Origin names this host (and port): the only Origin that needs no CORS headers. */
function sameHost(origin: string, host: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === "http:" || u.protocol === "https:") && host !== "" && u.host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}

function sseEvents(text: string): EventSourceMessage[] {
  const out: EventSourceMessage[] = [];
  const p = createParser({ onEvent: (e) => out.push(e) });
  p.feed(text);
  return out;
}

t.test("hostile input - the quotes query parser returns valid requests or throws BadRequestError, nothing else", async (t) => {
  let accepted = 0;
  const check = (query: string, lastEventId: string) => {
    let r;
    try {
      r = parseQuotesRequest(query, lastEventId, limits);
    } catch (err) {
      if (!(err instanceof BadRequestError)) throw err;
      if (/[\r\n]/.test(err.message)) throw new Error("a raw line break in an error message");
      return true;
    }
    accepted++;
    return (
      r.symbols.length >= 1 &&
      r.symbols.length <= limits.maxSymbols &&
      new Set(r.symbols).size === r.symbols.length &&
      r.symbols.every((s) => SYMBOL_PATTERN.test(s)) &&
      Number.isInteger(r.intervalMs) &&
      r.intervalMs >= limits.flushMs &&
      r.intervalMs <= MAX_INTERVAL_MS
    );
  };
  fc.assert(fc.property(anyString, anyString, check), params);
  fc.assert(
    fc.property(queryParts, anyString, (parts, id) => check(parts.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&"), id)),
    params,
  );
  fc.assert(fc.property(queryParts, (parts) => check(parts.map(([k, v]) => `${k}=${v}`).join("&"), "")), params);
  // Nearly valid: real symbols in any case, with spaces, duplicates and empty entries, and odd intervals.
  const sym = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$/);
  const nearlyValid = fc.tuple(fc.array(fc.oneof(sym, sym.map((x) => ` ${x} `), fc.constant("")), { minLength: 1, maxLength: 60 }), fc.option(fc.oneof(fc.nat().map(String), fc.double().map(String), anyString)));
  fc.assert(fc.property(nearlyValid, ([syms, interval]) => check(`symbols=${encodeURIComponent(syms.join(","))}${interval === null ? "" : `&interval=${encodeURIComponent(interval)}`}`, "")), params);
  t.ok(accepted > RUNS / 10, `${accepted} of ${RUNS * 4} generated queries were valid subscriptions (the rest refused with 400)`);
});

t.test("hostile input - the feed validator never throws, and what it accepts is one safe JSON object line", async (t) => {
  const jsonValue = fc.jsonValue({ maxDepth: 3 });
  const hostileQuote = fc.record(
    {
      sym: fc.oneof(fc.constant("AAPL"), symbolish),
      ts: fc.oneof(fc.double(), fc.integer(), anyString, fc.constant(null)),
      seq: fc.oneof(fc.integer(), fc.double(), fc.constant(-1), fc.constant(2 ** 60)),
      note: fc.oneof(anyString, fc.constant("\n\nevent: admin\ndata: pwned\n\n"), jsonValue),
    },
    { requiredKeys: [] },
  );
  const goodQuote = fc.record({ sym: fc.constant("AAPL"), ts: fc.integer({ min: 0 }), seq: fc.nat(), note: fc.oneof(anyString, fc.constant("\n\nevent: admin\ndata: pwned\n\n"), jsonValue) });
  const payload = fc.oneof(
    goodQuote.map((q) => new TextEncoder().encode(JSON.stringify(q))),
    fc.uint8Array({ maxLength: 300 }),
    hostileQuote.map((q) => new TextEncoder().encode(JSON.stringify(q))),
    // JSON with raw line breaks around and inside it.
    fc.tuple(hostileQuote, fc.constantFrom("\n", "\r", "\r\n", " ", "")).map(([q, br]) => new TextEncoder().encode(br + JSON.stringify(q, null, br === "" ? undefined : 1) + br)),
  );
  let accepted = 0;
  const subject = fc.oneof(fc.constant("quotes.AAPL"), symbolish.map((s) => `quotes.${s}`), anyString);
  fc.assert(
    fc.property(subject, payload, (subj, data) => {
      const v = validateQuote(subj, data, 256);
      if (!v.ok) return true;
      accepted++;
      const q = v.quote;
      const parsed = JSON.parse(q.json) as { sym: unknown };
      return !/[\r\n]/.test(q.json) && parsed.sym === q.sym && subj === `quotes.${q.sym}` && SYMBOL_PATTERN.test(q.sym) && Buffer.byteLength(q.json) <= 256;
    }),
    { ...params, numRuns: RUNS * 4 },
  );
  t.ok(accepted > RUNS / 10, `${accepted} of ${RUNS * 4} generated feed messages were accepted (the rest dropped as invalid)`);
});

t.test("hostile input - every frame built from accepted quotes parses as exactly the event meant, with the data sent", async (t) => {
  const quoteJson = fc
    .record({ sym: fc.constantFrom("AAPL", "BRK.B", "BTC-USD"), ts: fc.integer({ min: 0 }), seq: fc.nat(), text: anyString, extra: fc.jsonValue({ maxDepth: 2 }) })
    .map((q) => validateQuote(`quotes.${q.sym}`, new TextEncoder().encode(JSON.stringify(q)), 1 << 20))
    .filter((v) => v.ok)
    .map((v) => (v.ok ? v.quote.json : ""));
  fc.assert(
    fc.property(fc.constantFrom("snapshot", "quotes") as fc.Arbitrary<"snapshot" | "quotes">, fc.string({ unit: fc.constantFrom(..."0123456789abcdefghijklmnopqrstuvwxyz"), minLength: 1, maxLength: 12 }), fc.nat(), fc.array(quoteJson, { maxLength: 5 }), fc.double(), (event, epoch, seq, quotes, retry) => {
      const frame = retryField(retry) + quotesEvent(event, formatEventId(epoch, seq), quotes);
      const events = sseEvents(frame);
      return (
        !frame.includes("\r") &&
        events.length === 1 &&
        events[0]!.event === event &&
        events[0]!.id === formatEventId(epoch, seq) &&
        events[0]!.data === `[${quotes.join(",")}]` &&
        JSON.stringify(JSON.parse(events[0]!.data)) === JSON.stringify(quotes.map((q) => JSON.parse(q)))
      );
    }),
    params,
  );
  t.pass(`${RUNS} generated frames`);
});

t.test("hostile input - entitlements agree with a reference model; token and origin parsing never throw", async (t) => {
  const pattern = fc.oneof(fc.constant("*"), symbolish, symbolish.map((s) => s + "*"));
  fc.assert(
    fc.property(fc.array(pattern, { maxLength: 6 }), fc.array(symbolish.map((s) => s.toUpperCase()), { maxLength: 6 }), (claim, symbols) => {
      const patterns = parseSymbolsClaim(claim);
      // A claim with any entry that is not the symbol rule (or a prefix of it and *) as written is refused whole.
      const wellFormed = claim.every((raw) => raw === "*" || /^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}\*?$/.test(raw));
      if (patterns === null) return !wellFormed;
      if (!wellFormed) return false;
      const e = new Entitlements(patterns);
      const model = (s: string) =>
        claim.some((raw) => {
          const p = raw.toUpperCase();
          return p === "*" || p === s || (p.endsWith("*") && s.startsWith(p.slice(0, -1)));
        });
      return symbols.every((s) => e.allows(s) === model(s)) && JSON.stringify(e.missing(symbols)) === JSON.stringify(symbols.filter((s) => !model(s)));
    }),
    params,
  );
  fc.assert(
    fc.property(anyString, fc.option(anyString, { nil: undefined }), anyString, anyString, (auth, query, cookie, host) => {
      const r = findToken(auth, query, cookie);
      const d = decideOrigin(auth, host, ["https://a.example"]);
      // Only the listed origin is ever allowed, and only an absent Origin or the host's own is no-cors.
      const originOk =
        d.kind === "allowed" ? auth === "https://a.example" && d.allowOrigin === auth : d.kind === "no-cors" ? auth === "" || sameHost(auth, host) : d.kind === "forbidden";
      return originOk && (r.ok ? r.token.length > 0 : r.reason === "missing" || r.reason === "malformed");
    }),
    params,
  );
  t.pass();
});

t.test("hostile input - the token verifier answers every string with a failure reason, never a throw or a grant", async (t) => {
  const verifier = createTokenVerifier({ hs256Secret: "0123456789abcdef0123456789abcdef" })!;
  const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
  const header = fc.oneof(fc.constant({ alg: "HS256" }), fc.constant({ alg: "none" }), fc.constant({ alg: "RS256" }), fc.jsonValue({ maxDepth: 2 }));
  const claims = fc.oneof(fc.record({ exp: fc.oneof(fc.integer(), fc.double(), anyString), symbols: fc.oneof(fc.array(symbolish), anyString) }), fc.jsonValue({ maxDepth: 2 }));
  const jwtShaped = fc.tuple(header, claims, fc.oneof(anyString.map(b64), fc.constant(""))).map(([h, c, sig]) => `${b64(h)}.${b64(c)}.${sig}`);
  const reasons = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyString, jwtShaped), async (token) => {
      const v = await verifier.verify(token);
      if (v.ok) return false;
      reasons.add(v.reason);
      return true;
    }),
    params,
  );
  t.ok(reasons.has("malformed") && reasons.has("bad_signature"), `reasons seen: ${[...reasons].join(", ")}`);
});
