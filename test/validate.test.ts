import fc from "fast-check";
import t, { type Test } from "tap";
import { quote as benchQuote } from "../bench/loadgen/quote.js";
import { scanQuote, validateQuote, validateQuoteByParsing, type Validation } from "../src/ingest/validate.js";

const enc = new TextEncoder();
const MAX = 8192;

/** Validate a payload given as text (UTF-8 encoded) or as raw bytes. */
function check(subject: string, payload: string | Uint8Array, maxBytes = MAX): Validation {
  return validateQuote(subject, typeof payload === "string" ? enc.encode(payload) : payload, maxBytes);
}

function reason(subject: string, payload: string | Uint8Array, maxBytes = MAX): string {
  const r = check(subject, payload, maxBytes);
  return r.ok ? "ok" : r.reason;
}

const AAPL = '{"sym":"AAPL","ts":1700000000000,"seq":1}';

t.test("validate - a minimal quote is accepted with its payload unchanged", async (t) => {
  t.same(check("quotes.AAPL", AAPL), {
    ok: true,
    quote: { sym: "AAPL", json: AAPL, ts: 1700000000000, seq: 1 },
  });
});

t.test("validate - symbols with a dot or a dash, as in the contract", async (t) => {
  const brk = '{"sym":"BRK.B","ts":1700000000001,"seq":7}';
  t.same(check("quotes.BRK.B", brk), { ok: true, quote: { sym: "BRK.B", json: brk, ts: 1700000000001, seq: 7 } });
  const btc = '{"sym":"BTC-USD","ts":1700000000002,"seq":8}';
  t.same(check("quotes.BTC-USD", btc), { ok: true, quote: { sym: "BTC-USD", json: btc, ts: 1700000000002, seq: 8 } });
  const sixteen = "ABCDEFGHIJKLMNOP";
  t.equal(reason(`quotes.${sixteen}`, `{"sym":"${sixteen}","ts":1,"seq":1}`), "ok", "16 characters is the longest symbol");
  t.equal(reason("quotes.9", '{"sym":"9","ts":1,"seq":1}'), "ok", "one digit is a symbol");
});

t.test("validate - extra fields are preserved byte for byte", async (t) => {
  const payload =
    '{"sym":"MSFT","ts":1700000000000,"seq":42,"bid":411.25,"ask":411.3,"bsz":300,"asz":200,"last":411.27,"vol":1234567,"venue":"XNAS","flags":[1,2],"meta":{"halted":false}}';
  const r = check("quotes.MSFT", payload);
  if (!r.ok) throw new Error(`rejected: ${r.reason}`);
  t.equal(r.quote.json, payload);
  t.same(JSON.parse(r.quote.json), {
    sym: "MSFT",
    ts: 1700000000000,
    seq: 42,
    bid: 411.25,
    ask: 411.3,
    bsz: 300,
    asz: 200,
    last: 411.27,
    vol: 1234567,
    venue: "XNAS",
    flags: [1, 2],
    meta: { halted: false },
  });
});

t.test("validate - number spellings are kept as published, not re-serialized", async (t) => {
  const payload = '{"sym":"AAPL","ts":1.7e12,"seq":1.0,"bid":189.50}';
  t.same(check("quotes.AAPL", payload), { ok: true, quote: { sym: "AAPL", json: payload, ts: 1.7e12, seq: 1 } });
});

t.test("validate - escaped \\n inside a JSON string is valid, a raw newline byte is not", async (t) => {
  // The payload holds a backslash followed by the letter n: JSON's escape, not a line break.
  const escaped = '{"sym":"AAPL","ts":1,"seq":1,"note":"line1\\nline2\\r"}';
  const r = check("quotes.AAPL", escaped);
  t.same(r, { ok: true, quote: { sym: "AAPL", json: escaped, ts: 1, seq: 1 } });
  if (r.ok) t.equal((JSON.parse(r.quote.json) as { note: string }).note, "line1\nline2\r");

  const raw = '{"sym":"AAPL","ts":1,"seq":1,"note":"line1\nline2"}';
  t.equal(reason("quotes.AAPL", raw), "line_break");
});

t.test("validate - a raw CR or LF anywhere is a line break, even as JSON whitespace", async (t) => {
  const cases: [string, string][] = [
    ["LF between fields", '{"sym":"AAPL",\n"ts":1,"seq":1}'],
    ["CR between fields", '{"sym":"AAPL",\r"ts":1,"seq":1}'],
    ["trailing LF", AAPL + "\n"],
    ["trailing CRLF", AAPL + "\r\n"],
    ["leading CR", "\r" + AAPL],
    ["LF inside a string value", '{"sym":"AAPL","ts":1,"seq":1,"x":"a\nb"}'],
    ["CR inside a string value", '{"sym":"AAPL","ts":1,"seq":1,"x":"a\rb"}'],
    ["pretty-printed", JSON.stringify({ sym: "AAPL", ts: 1, seq: 1 }, null, 2)],
  ];
  for (const [name, payload] of cases) t.equal(reason("quotes.AAPL", payload), "line_break", name);
});

t.test("validate - outer spaces are trimmed from json, inner bytes are kept", async (t) => {
  const inner = '{ "sym" : "AAPL", "ts" : 1, "seq" : 1 }';
  t.same(check("quotes.AAPL", "  " + inner + "\t"), { ok: true, quote: { sym: "AAPL", json: inner, ts: 1, seq: 1 } });
});

t.test("validate - size limit: exactly maxBytes passes, one byte more is oversized", async (t) => {
  // "é" is two bytes in UTF-8: the limit counts bytes, not characters.
  const payload = '{"sym":"AAPL","ts":1,"seq":1,"pad":"éééé"}';
  const bytes = enc.encode(payload);
  t.equal(bytes.length, payload.length + 4);
  t.equal(reason("quotes.AAPL", bytes, bytes.length), "ok");
  t.equal(reason("quotes.AAPL", bytes, bytes.length - 1), "oversized");
  t.equal(reason("quotes.AAPL", bytes, payload.length), "oversized", "character count would wrongly pass");
  t.equal(reason("not-a-subject", "x".repeat(65), 64), "oversized", "size is checked before anything else");
});

t.test("validate - not JSON", async (t) => {
  t.equal(reason("quotes.AAPL", "hello"), "not_json");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,'), "not_json", "truncated object");
  t.equal(reason("quotes.AAPL", "{'sym':'AAPL','ts':1,'seq':1}"), "not_json", "single quotes");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":NaN,"seq":1}'), "not_json", "NaN is not JSON");
  t.equal(reason("quotes.AAPL", ""), "not_json", "empty payload");
  t.equal(reason("quotes.AAPL", AAPL + AAPL), "not_json", "two objects");
});

t.test("validate - invalid UTF-8 is not JSON", async (t) => {
  const prefix = enc.encode('{"sym":"AAPL","ts":1,"seq":1,"x":"');
  const suffix = enc.encode('"}');
  const withBytes = (...bad: number[]) => new Uint8Array([...prefix, ...bad, ...suffix]);
  t.equal(reason("quotes.AAPL", withBytes(0xff)), "not_json", "0xFF never occurs in UTF-8");
  t.equal(reason("quotes.AAPL", withBytes(0xc3)), "not_json", "truncated two-byte sequence");
  t.equal(reason("quotes.AAPL", withBytes(0xc0, 0xaf)), "not_json", "overlong encoding of '/'");
  t.equal(reason("quotes.AAPL", withBytes(0xed, 0xa0, 0x80)), "not_json", "encoded surrogate");
  t.equal(reason("quotes.AAPL", withBytes(0xc3, 0xa9)), "ok", "the same place with valid 'é' passes");
});

t.test("validate - JSON that is not an object", async (t) => {
  t.equal(reason("quotes.AAPL", '[{"sym":"AAPL","ts":1,"seq":1}]'), "not_object", "array");
  t.equal(reason("quotes.AAPL", '"AAPL"'), "not_object", "string");
  t.equal(reason("quotes.AAPL", "null"), "not_object", "null");
  t.equal(reason("quotes.AAPL", "42"), "not_object", "number");
  t.equal(reason("quotes.AAPL", "true"), "not_object", "boolean");
});

t.test("validate - sym must equal the subject's symbol exactly", async (t) => {
  t.equal(reason("quotes.AAPL", '{"sym":"MSFT","ts":1,"seq":1}'), "sym_mismatch", "other symbol");
  t.equal(reason("quotes.AAPL", '{"sym":"aapl","ts":1,"seq":1}'), "sym_mismatch", "case differs");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL ","ts":1,"seq":1}'), "sym_mismatch", "trailing space");
  t.equal(reason("quotes.AAPL", '{"ts":1,"seq":1}'), "sym_mismatch", "sym missing");
  t.equal(reason("quotes.AAPL", '{"sym":null,"ts":1,"seq":1}'), "sym_mismatch", "sym null");
  t.equal(reason("quotes.BRK.B", '{"sym":"BRK","ts":1,"seq":1}'), "sym_mismatch", "subject token, not whole symbol");
});

t.test("validate - ts must be a finite number", async (t) => {
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","seq":1}'), "bad_ts", "missing");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":"1700000000000","seq":1}'), "bad_ts", "numeric string");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":null,"seq":1}'), "bad_ts", "null");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1e400,"seq":1}'), "bad_ts", "1e400 parses to Infinity");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":-1e400,"seq":1}'), "bad_ts", "-1e400 parses to -Infinity");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":true,"seq":1}'), "bad_ts", "boolean");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1700000000000.5,"seq":1}'), "ok", "a fractional ts is a number");
});

t.test("validate - seq must be a non-negative safe integer", async (t) => {
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1}'), "bad_seq", "missing");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":1.5}'), "bad_seq", "fraction");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":"7"}'), "bad_seq", "numeric string");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":-1}'), "bad_seq", "negative");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":null}'), "bad_seq", "null");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":9007199254740992}'), "bad_seq", "2^53 is not safe");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":9007199254740991}'), "ok", "2^53-1 is");
  t.equal(reason("quotes.AAPL", '{"sym":"AAPL","ts":1,"seq":0}'), "ok", "zero");
});

t.test("validate - subjects that are not quotes.<SYMBOL>", async (t) => {
  const cases: [string, string][] = [
    ["quotes.", "empty symbol"],
    ["quotes", "no dot"],
    ["quotes.aapl", "lower case"],
    ["quotes.Aapl", "mixed case"],
    ["quotes.ABCDEFGHIJKLMNOPQ", "17 characters"],
    ["other.AAPL", "other prefix"],
    ["QUOTES.AAPL", "upper-case prefix"],
    ["quotes..B", "symbol starting with a dot"],
    ["quotes.-USD", "symbol starting with a dash"],
    ["quotes.AAPL ", "trailing space"],
    ["quotes.*", "wildcard token"],
    ["quotes.>", "full wildcard"],
    ["quotes.BRK_B", "underscore"],
  ];
  for (const [subject, name] of cases) {
    // sym equals the subject's tail so that only the subject rule can reject it.
    const sym = subject.startsWith("quotes.") ? subject.slice(7) : "AAPL";
    t.equal(reason(subject, JSON.stringify({ sym, ts: 1, seq: 1 })), "bad_subject", `${name}: ${JSON.stringify(subject)}`);
  }
});

// The byte scanner (scanQuote) must answer exactly what the reference (decode + JSON.parse) does:
// same verdict, same reason, same sym/json/ts/seq. It may only accept what it is sure of; the
// rest goes to the reference, so every case here compares validateQuote with it.

/** Both validators, on bytes given as text or raw, as a Buffer (what nats.js hands) and as a plain Uint8Array. */
function agree(t: Test, subject: string, payload: string | Uint8Array, name: string): void {
  const bytes = typeof payload === "string" ? enc.encode(payload) : payload;
  const want = validateQuoteByParsing(subject, bytes, MAX);
  t.same(validateQuote(subject, bytes, MAX), want, `${name} (Uint8Array)`);
  t.same(validateQuote(subject, Buffer.from(bytes), MAX), want, `${name} (Buffer)`);
}

t.test("validate scanner - the quotes the simulator and the bench publish are read by the scanner, as the reference reads them", async (t) => {
  const payloads = [
    benchQuote("AAPL", 12345, 1_700_000_000_123),
    '{"sym":"AAPL","ts":1700000000000,"seq":1}',
    '{"sym":"BRK.B","ts":1700000000000.5,"seq":0,"bid":-0.5,"ask":1e3,"flags":[true,false,null,{}],"meta":{"a":[[]],"b":""}}',
    ' \t{"sym":"AAPL","ts":1,"seq":1} \t',
    '{"sym":"AAPL","ts":1,"seq":1,"venue":"Zürich","note":"caf\\u00e9 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t"}',
    '{"sym":"AAPL","ts":-0,"seq":-0}',
    '{"sym":"AAPL","ts":1.5E+3,"seq":10e0}',
    '{"sym":"AAPL","ts":123456789012345678,"seq":1}',
  ];
  for (const p of payloads) {
    const sym = (JSON.parse(p) as { sym: string }).sym;
    const bytes = Buffer.from(p);
    const got = scanQuote(bytes, sym);
    t.not(got, null, `scanned without the reference: ${p}`);
    const ref = validateQuoteByParsing(`quotes.${sym}`, bytes, MAX);
    t.same(got === null ? null : { ok: true, quote: got }, ref, p);
    t.ok(Object.is(got?.seq, ref.ok ? ref.quote.seq : undefined), "-0 stays -0");
  }
});

t.test("validate scanner - what it leaves to the reference gets the reference's verdict", async (t) => {
  const cases: [string, string][] = [
    ["escaped key that means sym", '{"s\\u0079m":"AAPL","ts":1,"seq":1}'],
    ["escaped key that means ts", '{"sym":"AAPL","\\u0074s":1,"seq":1}'],
    ["escaped sym value", '{"sym":"\\u0041APL","ts":1,"seq":1}'],
    ["duplicate sym, last wrong", '{"sym":"AAPL","ts":1,"seq":1,"sym":"MSFT"}'],
    ["duplicate sym, last right", '{"sym":"MSFT","ts":1,"seq":1,"sym":"AAPL"}'],
    ["duplicate seq, last bad", '{"sym":"AAPL","ts":1,"seq":1,"seq":-1}'],
    ["duplicate ts, last a string", '{"sym":"AAPL","ts":1,"seq":1,"ts":"1"}'],
    ["byte-order mark", "\ufeff" + AAPL],
    ["trailing comma", '{"sym":"AAPL","ts":1,"seq":1,}'],
    ["trailing comma in array", '{"sym":"AAPL","ts":1,"seq":1,"a":[1,]}'],
    ["leading zero", '{"sym":"AAPL","ts":01,"seq":1}'],
    ["bare dot", '{"sym":"AAPL","ts":1.,"seq":1}'],
    ["exponent without digits", '{"sym":"AAPL","ts":1e,"seq":1}'],
    ["plus sign", '{"sym":"AAPL","ts":+1,"seq":1}'],
    ["hex escape short", '{"sym":"AAPL","ts":1,"seq":1,"x":"\\u12"}'],
    ["bad escape", '{"sym":"AAPL","ts":1,"seq":1,"x":"\\x41"}'],
    ["raw tab in a string", '{"sym":"AAPL","ts":1,"seq":1,"x":"a\tb"}'],
    ["raw NUL in a string", '{"sym":"AAPL","ts":1,"seq":1,"x":"a\u0000b"}'],
    ["two objects", AAPL + AAPL],
    ["garbage after", AAPL + "x"],
    ["unterminated string", '{"sym":"AAPL","ts":1,"seq":1,"x":"abc}'],
    ["unterminated object", '{"sym":"AAPL","ts":1,"seq":1'],
    ["literal cut short", '{"sym":"AAPL","ts":1,"seq":1,"x":tru}'],
    ["literal misspelt", '{"sym":"AAPL","ts":1,"seq":1,"x":nul}'],
    ["array at the top", '[{"sym":"AAPL","ts":1,"seq":1}]'],
    ["empty object", "{}"],
    ["empty", ""],
    ["only whitespace", "  "],
    ["single quotes", "{'sym':'AAPL','ts':1,'seq':1}"],
    ["nesting deeper than the scanner goes", `{"sym":"AAPL","ts":1,"seq":1,"x":${"[".repeat(100)}${"]".repeat(100)}}`],
    ["nesting too deep to close", `{"sym":"AAPL","ts":1,"seq":1,"x":${"[".repeat(100)}}`],
    ["ts overflows to Infinity", '{"sym":"AAPL","ts":1e999,"seq":1}'],
    ["seq beyond safe integers", '{"sym":"AAPL","ts":1,"seq":9007199254740993}'],
    ["seq of 16 digits, safe", '{"sym":"AAPL","ts":1,"seq":1000000000000000}'],
    ["sym as a number", '{"sym":1,"ts":1,"seq":1}'],
    ["sym of another case", '{"sym":"aapl","ts":1,"seq":1}'],
    ["sym longer", '{"sym":"AAPLX","ts":1,"seq":1}'],
    ["sym shorter", '{"sym":"AAP","ts":1,"seq":1}'],
    ["missing colon", '{"sym" "AAPL","ts":1,"seq":1}'],
    ["key not a string", '{sym:"AAPL","ts":1,"seq":1}'],
    ["lone surrogate escape", '{"sym":"AAPL","ts":1,"seq":1,"x":"\\ud800"}'],
  ];
  for (const [name, payload] of cases) agree(t, "quotes.AAPL", payload, name);
  // Bytes that are not UTF-8, inside a string (only the reference's decoder checks them).
  const bad = Buffer.concat([Buffer.from('{"sym":"AAPL","ts":1,"seq":1,"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  agree(t, "quotes.AAPL", bad, "invalid UTF-8 in a string");
  const overlong = Buffer.concat([Buffer.from('{"sym":"AAPL","ts":1,"seq":1,"x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
  agree(t, "quotes.AAPL", overlong, "overlong UTF-8 in a string");
  const high = Buffer.concat([Buffer.from('{"sym":"AAPL","ts":1,"seq":1}'), Buffer.from([0xa0])]);
  agree(t, "quotes.AAPL", high, "a high byte after the object");
});

t.test("validate scanner - agrees with the reference on generated payloads, valid and broken", async (t) => {
  const RUNS = Number(process.env.QC_FC_RUNS ?? 2000);
  const params = { numRuns: RUNS, seed: Number(process.env.QC_FC_SEED ?? 20261206) };
  const sym = fc.constantFrom("AAPL", "BRK.B", "X");
  const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom("-0", "1e999", "1.0", "0.5e-3", "9007199254740993", "01", "1.", "-", "1e+", "2E2"));
  const field = fc.oneof(num.map(String), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"), fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)));
  const key = fc.oneof(fc.constantFrom('"sym"', '"ts"', '"seq"', '"s\\u0079m"', '"x"'), fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)));
  const ws = fc.constantFrom("", " ", "\t", "  ");
  const object = fc
    .tuple(sym, fc.array(fc.tuple(key, field, ws), { maxLength: 6 }), fc.integer({ min: 0, max: 3 }), ws, ws)
    .map(([s, extra, at, before, after]) => {
      const members = [`"sym":${JSON.stringify(s)}`, `"ts":1700000000000`, `"seq":42`, ...extra.map(([k, v, w]) => `${k}${w}:${w}${v}`)];
      // Move one required member among the others so that order and duplicates vary.
      members.splice(at, 0, members.splice(at % 3, 1)[0]!);
      return [s, `${before}{${members.join(",")}}${after}`] as const;
    });
  // Then break some of them: a byte changed, dropped or inserted anywhere.
  const mutated = fc.tuple(object, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("none", "set", "drop", "insert")).map(([[s, p], at, byte, how]) => {
    const b = [...Buffer.from(p)];
    const i = b.length === 0 ? 0 : at % b.length;
    if (how === "set") b[i] = byte;
    else if (how === "drop") b.splice(i, 1);
    else if (how === "insert") b.splice(i, 0, byte);
    return [s, Buffer.from(b)] as const;
  });
  let accepted = 0;
  fc.assert(
    fc.property(mutated, ([s, bytes]) => {
      const want = validateQuoteByParsing(`quotes.${s}`, bytes, MAX);
      if (want.ok) accepted++;
      const asBuffer = validateQuote(`quotes.${s}`, bytes, MAX);
      const asArray = validateQuote(`quotes.${s}`, new Uint8Array(bytes), MAX);
      return JSON.stringify(asBuffer) === JSON.stringify(want) && JSON.stringify(asArray) === JSON.stringify(want) && Object.is(asBuffer.ok && asBuffer.quote.ts, want.ok && want.quote.ts);
    }),
    params,
  );
  t.ok(accepted > RUNS / 10, `${accepted} of ${RUNS} generated payloads were valid`);
});
