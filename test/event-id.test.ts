import t from "tap";
import { epochFromCreated } from "../src/ingest/quote-stream.js";
import { formatEventId, parseEventId, resumeAfter } from "../src/fanout/event-id.js";

const EPOCH = "lvnsv0k5";

t.test("event-id - format is <epoch>-<seq>", async (t) => {
  t.equal(formatEventId(EPOCH, 42), "lvnsv0k5-42");
  t.equal(formatEventId(EPOCH, 0), "lvnsv0k5-0");
  t.equal(formatEventId(EPOCH, Number.MAX_SAFE_INTEGER), "lvnsv0k5-9007199254740991");
});

t.test("event-id - parse reverses format", async (t) => {
  for (const seq of [0, 1, 42, 1_000_000, Number.MAX_SAFE_INTEGER]) {
    t.same(parseEventId(formatEventId(EPOCH, seq)), { epoch: EPOCH, seq }, `seq ${seq}`);
  }
  t.same(parseEventId("0-0"), { epoch: "0", seq: 0 }, "one-character epoch");
  t.same(parseEventId("abcdefghijklmnop-5"), { epoch: "abcdefghijklmnop", seq: 5 }, "16-character epoch");
  t.same(parseEventId("lvnsv0k5-007"), { epoch: EPOCH, seq: 7 }, "leading zeros are read as the number");
});

t.test("event-id - malformed ids are not ours", async (t) => {
  const bad: [string, string][] = [
    ["", "empty"],
    ["lvnsv0k5", "no dash"],
    ["lvnsv0k5-", "no seq"],
    ["-42", "no epoch"],
    ["LVNSV0K5-42", "upper-case epoch"],
    ["lvnsv0k5--42", "negative seq"],
    ["lvnsv0k5-+42", "signed seq"],
    ["lvnsv0k5-4.2", "fractional seq"],
    ["lvnsv0k5-1e3", "exponent seq"],
    ["lvnsv0k5-42-7", "extra part"],
    ["a-b-42", "dash inside epoch"],
    ["lvnsv0k5_42", "underscore"],
    [" lvnsv0k5-42", "leading space"],
    ["lvnsv0k5-42 ", "trailing space"],
    ["lvnsv0k5-42\n", "trailing newline"],
    ["lvnsv0k5-12345678901234567", "17-digit seq"],
    ["lvnsv0k5-9007199254740992", "16 digits but above MAX_SAFE_INTEGER"],
    ["abcdefghijklmnopq-5", "17-character epoch"],
  ];
  for (const [id, name] of bad) t.equal(parseEventId(id), null, `${name}: ${JSON.stringify(id)}`);
});

t.test("event-id - resumeAfter gives the seq only for this stream epoch", async (t) => {
  t.equal(resumeAfter("lvnsv0k5-42", EPOCH), 42);
  t.equal(resumeAfter("lvnsv0k5-0", EPOCH), 0);
  t.equal(resumeAfter("lvnsv0k4-42", EPOCH), null, "another epoch: the stream was recreated");
  t.equal(resumeAfter(undefined, EPOCH), null, "no id");
  t.equal(resumeAfter("", EPOCH), null, "empty id");
  t.equal(resumeAfter("garbage", EPOCH), null, "malformed id");
  t.equal(resumeAfter("LVNSV0K5-42", EPOCH), null, "case matters");
});

t.test("event-id - epochFromCreated is the creation time in ms, base 36", async (t) => {
  const iso = "2024-05-01T12:34:56.789Z";
  const ms = Date.parse(iso);
  t.equal(ms, 1714566896789);
  t.equal(ms.toString(36), "lvnsv0k5", "worked out independently of the module");
  t.equal(epochFromCreated(iso), "lvnsv0k5");
  // JetStream reports RFC 3339 with nanoseconds: every worker must derive the same epoch from it.
  t.equal(epochFromCreated("2024-05-01T12:34:56.789012345Z"), "lvnsv0k5", "nanoseconds are truncated");
  t.equal(epochFromCreated("2024-05-01T14:34:56.789+02:00"), "lvnsv0k5", "same instant, other offset");
  t.equal(epochFromCreated("1970-01-01T00:00:00Z"), "0");
  t.not(epochFromCreated("2024-05-01T12:34:56.790Z"), "lvnsv0k5", "one millisecond later is another epoch");
  t.same(parseEventId(formatEventId(epochFromCreated(iso), 9)), { epoch: "lvnsv0k5", seq: 9 }, "an epoch fits the id pattern");
});

t.test("event-id - epochFromCreated rejects what is not a date", async (t) => {
  for (const created of ["not a date", "", "2024-13-45T99:00:00Z"]) {
    let message: string | undefined;
    try {
      epochFromCreated(created);
    } catch (err) {
      message = (err as Error).message;
    }
    t.equal(message, `stream creation time is not a date: ${created}`, JSON.stringify(created));
  }
});
