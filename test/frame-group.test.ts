import t from "tap";
import { Connection, type Sink } from "../src/fanout/connection.js";
import { FrameGroup } from "../src/fanout/frame-group.js";

const sink: Sink = { write: () => true, close() {}, end() {} };

t.test("frame-group - members join and leave in any order, each knowing its place", async (t) => {
  const group = new FrameGroup("50|A", 50, [], 0);
  const conns = Array.from({ length: 6 }, () => new Connection(group, sink, undefined, 0));
  for (const c of conns) group.add(c);
  t.same(conns.map((c) => c.memberIndex), [0, 1, 2, 3, 4, 5]);
  group.delete(conns[1]!);
  group.delete(conns[5]!);
  group.delete(conns[1]!); // twice: no effect
  t.equal(group.members.length, 4);
  t.same(new Set(group.members), new Set([conns[0], conns[2], conns[3], conns[4]]));
  group.members.forEach((c, i) => t.equal(c.memberIndex, i, `member ${i} knows its index`));
  t.equal(conns[1]!.memberIndex, -1);
  for (const c of [conns[0]!, conns[4]!, conns[2]!, conns[3]!]) group.delete(c);
  t.same(group.members, []);
});

t.test("frame-group - the key ignores symbol order and includes the interval", async (t) => {
  t.equal(FrameGroup.keyOf(["MSFT", "AAPL"], 50), FrameGroup.keyOf(["AAPL", "MSFT"], 50));
  t.not(FrameGroup.keyOf(["AAPL"], 50), FrameGroup.keyOf(["AAPL"], 100));
});
