import t from "tap";
import { validateQuote, type Validation } from "../src/feed/validate.js";

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
