import t from "tap";
import { startNatsServer } from "./helpers/nats-server.js";
import { metricValue, sleep, startQuotecast } from "./helpers/quotecast.js";

// One stuck worker among several must show: prom-client averages its lag percentiles over the
// workers, so quotecast_eventloop_lag_p99_max_seconds is each worker's p99 since the previous
// scrape, and the primary reports the largest.

t.test("worker-lag - one worker stalled for 1.5 s shows as a 1.5 s p99, not as the average over workers", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2"] });
  t.teardown(() => qc.stop());
  // Every worker answering the aggregation first; then a scrape resets the per-scrape maximum.
  let text = "";
  for (let i = 0; i < 100 && !text.includes("quotecast_eventloop_lag_p99_max_seconds"); i++) {
    text = await qc.metrics().catch(() => "");
    await sleep(100);
  }
  text = await qc.metrics();
  t.ok(metricValue(text, "quotecast_eventloop_lag_p99_max_seconds") < 0.5, "no stall yet");
  const [victim] = qc.workerPids();
  // A stopped process's loop does not run: when it resumes, its next timer is 1.5 s late.
  process.kill(victim!, "SIGSTOP");
  await sleep(1500);
  process.kill(victim!, "SIGCONT");
  await sleep(200);
  text = await qc.metrics();
  const max = metricValue(text, "quotecast_eventloop_lag_p99_max_seconds");
  const averaged = metricValue(text, "quotecast_nodejs_eventloop_lag_p99_seconds");
  t.ok(max >= 1.2, `the stalled worker's p99: ${max.toFixed(2)} s`);
  t.ok(averaged < max - 0.4, `prom-client's p99, averaged over the two workers: ${averaged.toFixed(2)} s`);
  t.match(text, /quotecast_primary_process_resident_memory_bytes \d+/, "the primary's own process metrics");
});
