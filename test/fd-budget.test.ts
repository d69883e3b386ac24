import t from "tap";
import { connectionBudget, FD_RESERVE, openFileLimit } from "../src/http/fd-budget.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { sleep, startQuotecast } from "./helpers/quotecast.js";
import { RawSseClient } from "./helpers/sse-client.js";

t.test("fd-budget - the open-file limit is read from /proc/self/limits", async (t) => {
  const limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n";
  t.equal(openFileLimit(limits), 20000);
  t.equal(openFileLimit("Max open files            unlimited            unlimited            files\n"), null);
  t.equal(openFileLimit("nothing here"), null);
  t.equal(connectionBudget(20000), 20000 - FD_RESERVE);
  t.equal(connectionBudget(null), Number.POSITIVE_INFINITY);
  t.type(openFileLimit(), "number", "this machine reports one");
});

t.test("fd-budget - a worker near its descriptor limit refuses with 503 instead of going silent", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const limit = 300;
  const qc = await startQuotecast({ nats: nats.url, fdLimit: limit });
  t.teardown(() => qc.stop());
  const budget = limit - FD_RESERVE;
  const clients: RawSseClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < budget + 20; i++) {
    clients.push(RawSseClient.open(qc.port, "/quotes?symbols=FD"));
    if (i % 25 === 0) await sleep(20);
  }
  for (const c of clients) await c.waitFor(() => c.status !== 0, 5000, "an answer");
  const ok = clients.filter((c) => c.status === 200).length;
  const refused = clients.filter((c) => c.status === 503).length;
  t.equal(ok, budget, `${budget} held, the descriptor limit minus the reserve`);
  t.equal(refused, 20, "the rest refused at once");
  const health = await fetch(`${qc.base}/healthz`);
  t.equal(health.status, 200, "the worker still answers");
});
