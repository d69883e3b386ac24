import t from "tap";
import { measureMemory } from "../bench/memory.js";
import { SubscriptionBudget } from "../src/http/subscription-budget.js";
import { SymbolSlot } from "../src/fanout/symbol-slot.js";
import type { FrameGroup } from "../src/fanout/frame-group.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.js";
import { metricValue, startQuotecast, type Quotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

t.test("subscription-budget - takes what fits, refuses what would pass it, gives back", async (t) => {
  const b = new SubscriptionBudget(10);
  t.equal(b.take(6), true);
  t.equal(b.take(5), false, "6 + 5 > 10: refused, nothing taken");
  t.equal(b.held, 6);
  t.equal(b.take(4), true, "exactly the budget fits");
  b.release(6);
  t.equal(b.take(5), true);
  t.equal(b.held, 9);
});

t.test("symbol-slot - groups join and leave in any order", async (t) => {
  const slot = new SymbolSlot("AAPL", undefined);
  const [a, b, c] = [{ key: "a" }, { key: "b" }, { key: "c" }] as unknown as FrameGroup[];
  slot.addGroup(a!);
  slot.addGroup(b!);
  slot.addGroup(c!);
  slot.removeGroup(a!);
  t.same([...slot.groups].map((g) => g.key).sort(), ["b", "c"]);
  slot.removeGroup(a!);
  t.equal(slot.groups.length, 2, "removing a group that left is a no-op");
  slot.removeGroup(c!);
  slot.removeGroup(b!);
  t.equal(slot.groups.length, 0);
  const other = new SymbolSlot("MSFT", undefined);
  t.equal(other.groups.length, 0, "slots do not share what one of them was given");
});

t.test("memory - a connection of 500 unique symbols costs under 230 bytes of heap per symbol, all given back", async (t) => {
  // bench/memory.ts, smaller: 286 B per symbol subscription with a Set of groups per slot, 190 with an array.
  const f = measureMemory(200, 500);
  t.comment(JSON.stringify(f));
  t.ok(f.bytesPerSymbolSubscription < 230, `${f.bytesPerSymbolSubscription} B per symbol subscription (${f.totalKiBPerConnection} KiB per connection)`);
  t.ok(f.leftKiBPerConnection < 1, `${f.leftKiBPerConnection} KiB per connection left after every connection was removed`);
});

t.test("subscription-budget - a worker past its symbol subscriptions answers 503 with the reason, and takes them back when streams end", async (t) => {
  const nats: NatsServer = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc: Quotecast = await startQuotecast({ nats: nats.url, args: ["--max-worker-subscriptions", "10"] });
  t.teardown(() => qc.stop());
  const six = RawSseClient.open(qc.port, "/quotes?symbols=B1,B2,B3,B4,B5,B6");
  t.teardown(() => six.close());
  await six.waitFor(() => six.events.length >= 1, 5000, "snapshot");
  const over = await fetch(`${qc.base}/quotes?symbols=C1,C2,C3,C4,C5`);
  t.equal(over.status, 503);
  t.match(over.headers.get("retry-after"), /^\d+$/);
  t.match(await over.json(), { error: /holds 6 of its 10 symbol subscriptions .*--max-worker-subscriptions/ });
  t.equal(metricValue(await qc.metrics(), "quotecast_rejected_connections_total", 'reason="subscription_budget"'), 1);
  const four = RawSseClient.open(qc.port, "/quotes?symbols=D1,D2,D3,D4");
  t.teardown(() => four.close());
  await four.waitFor(() => four.events.length >= 1, 5000, "snapshot");
  t.equal(four.status, 200, "what fits the budget exactly is served");
  six.close();
  four.close();
  const again = RawSseClient.open(qc.port, "/quotes?symbols=C1,C2,C3,C4,C5");
  t.teardown(() => again.close());
  await again.waitFor(() => again.status !== 0, 5000, "a response");
  let status = again.status;
  // The closes reach the worker asynchronously: retry once if they had not yet.
  if (status !== 200) {
    await new Promise((r) => setTimeout(r, 500));
    const retry = RawSseClient.open(qc.port, "/quotes?symbols=C1,C2,C3,C4,C5");
    t.teardown(() => retry.close());
    await retry.waitFor(() => retry.status !== 0, 5000, "a response");
    status = retry.status;
  }
  t.equal(status, 200, "ended streams gave their symbols back");
});
