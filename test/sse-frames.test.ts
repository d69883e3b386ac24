import t from "tap";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { HEARTBEAT, quotesEvent, retryField } from "../src/fanout/sse-frames.js";

const AAPL = '{"sym":"AAPL","ts":1700000000000,"seq":1,"bid":189.5}';
const MSFT = '{"sym":"MSFT","ts":1700000000001,"seq":2,"bid":411.25}';

t.test("sse-frames - retryField is a whole, non-negative number of ms", async (t) => {
  t.equal(retryField(1000), "retry: 1000\n\n");
  t.equal(retryField(0), "retry: 0\n\n");
  t.equal(retryField(1500.4), "retry: 1500\n\n", "rounds down below .5");
  t.equal(retryField(1500.5), "retry: 1501\n\n", "rounds up from .5");
  t.equal(retryField(1999.999), "retry: 2000\n\n");
  t.equal(retryField(-250), "retry: 0\n\n", "negative becomes 0");
  t.equal(retryField(-0.4), "retry: 0\n\n", "negative zero prints as 0");
});

t.test("sse-frames - snapshot with no quote is an empty array", async (t) => {
  t.equal(quotesEvent("snapshot", "lvnsv0k5-0", []), "id: lvnsv0k5-0\nevent: snapshot\ndata: []\n\n");
});

t.test("sse-frames - snapshot with one quote", async (t) => {
  t.equal(
    quotesEvent("snapshot", "lvnsv0k5-17", [AAPL]),
    'id: lvnsv0k5-17\nevent: snapshot\ndata: [{"sym":"AAPL","ts":1700000000000,"seq":1,"bid":189.5}]\n\n',
  );
});

t.test("sse-frames - quotes with two quotes, comma-joined in the given order", async (t) => {
  t.equal(
    quotesEvent("quotes", "lvnsv0k5-18", [AAPL, MSFT]),
    'id: lvnsv0k5-18\nevent: quotes\ndata: [{"sym":"AAPL","ts":1700000000000,"seq":1,"bid":189.5},' +
      '{"sym":"MSFT","ts":1700000000001,"seq":2,"bid":411.25}]\n\n',
  );
  t.equal(quotesEvent("quotes", "e-1", []), "id: e-1\nevent: quotes\ndata: []\n\n", "quotes with none");
  t.equal(quotesEvent("quotes", "e-1", [MSFT, AAPL]), `id: e-1\nevent: quotes\ndata: [${MSFT},${AAPL}]\n\n`, "order kept");
});

t.test("sse-frames - heartbeat is an empty comment line", async (t) => {
  t.equal(HEARTBEAT, ":\n\n");
});

t.test("sse-frames - a standard SSE parser reads back what was written", async (t) => {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (e) => events.push(e),
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => comments.push(c),
  });
  parser.feed(retryField(1234.6));
  parser.feed(quotesEvent("snapshot", "lvnsv0k5-1", [AAPL]));
  parser.feed(HEARTBEAT);
  parser.feed(quotesEvent("quotes", "lvnsv0k5-2", [AAPL, MSFT]));

  t.same(retries, [1235]);
  t.same(comments, [""]);
  t.same(
    events.map((e) => ({ id: e.id, event: e.event, data: e.data })),
    [
      { id: "lvnsv0k5-1", event: "snapshot", data: `[${AAPL}]` },
      { id: "lvnsv0k5-2", event: "quotes", data: `[${AAPL},${MSFT}]` },
    ],
  );
  t.same(JSON.parse(events[1]!.data), [JSON.parse(AAPL), JSON.parse(MSFT)]);
});
