import t from "tap";
import { LATENCY_BUCKETS, LatencyHistogram, PublishLatencyHistogram } from "../src/fanout/latency-histogram.js";

t.test("latency-histogram - a value on a bound falls in that bound's bucket", async (t) => {
  const h = new LatencyHistogram([0.01, 0.1, 1]);
  h.observe(0.01);
  h.observe(0.1);
  h.observe(1);
  t.same([...h.counts], [1, 1, 1]);
  t.same(h.cumulative(), [1, 2, 3]);
});

t.test("latency-histogram - a value just above a bound falls in the next bucket", async (t) => {
  const h = new LatencyHistogram([0.01, 0.1, 1]);
  h.observe(0.010001);
  h.observe(0.100001);
  t.same([...h.counts], [0, 1, 1]);
});

t.test("latency-histogram - cumulative counts, as Prometheus buckets are", async (t) => {
  const h = new LatencyHistogram([0.01, 0.1, 1]);
  for (const v of [0, 0.005, 0.05, 0.05, 0.05, 0.5]) h.observe(v);
  t.same([...h.counts], [2, 3, 1]);
  t.same(h.cumulative(), [2, 5, 6]);
  t.equal(h.count, 6);
  t.equal(h.sum, 0 + 0.005 + 0.05 + 0.05 + 0.05 + 0.5);
});

t.test("latency-histogram - above the last bound only count and sum change (the +Inf bucket)", async (t) => {
  const h = new LatencyHistogram([0.25, 0.5]);
  h.observe(0.25);
  h.observe(2);
  h.observe(4);
  t.same([...h.counts], [1, 0]);
  t.same(h.cumulative(), [1, 1]);
  t.equal(h.count, 3, "+Inf bucket is count");
  t.equal(h.sum, 6.25);
});

t.test("latency-histogram - empty", async (t) => {
  const h = new LatencyHistogram([0.1, 1]);
  t.same(h.cumulative(), [0, 0]);
  t.equal(h.count, 0);
  t.equal(h.sum, 0);
});

t.test("latency-histogram - the latency buckets span 1 ms to 10 s, ascending", async (t) => {
  t.same(LATENCY_BUCKETS, [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  const h = new LatencyHistogram(LATENCY_BUCKETS);
  h.observe(0.0003);
  h.observe(0.075);
  h.observe(10);
  h.observe(11);
  t.same(h.cumulative(), [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3]);
  t.equal(h.count, 4);
});

t.test("latency-histogram - publish-to-write observes 0..60 s, small clock skew as 0, and counts the rest", async (t) => {
  const h = new PublishLatencyHistogram();
  h.observe(0.02);
  h.observe(60);
  h.observe(-0.5);
  t.equal(h.count, 3, "0.02 s, 60 s and half a second of clock skew are observed");
  t.equal(h.sum, 60.02, "skew counts as 0");
  // From the hostile-input pass: a ts of −8.64e15 ms, and one ten years ahead.
  h.observe((Date.now() - -8.64e15) / 1000);
  h.observe(-10 * 365 * 86_400);
  h.observe(60.001);
  h.observe(-1.001);
  h.observe(Number.NaN);
  t.equal(h.count, 3, "none of them observed");
  t.equal(h.sum, 60.02, "the sum stays a sum of latencies");
  t.same(h.implausible, { future: 3, too_old: 2 });
  t.equal(h.cumulative().at(-1), 2, "60 s lands above the last bucket (+Inf), as before");
});

t.test("latency-histogram - observeMs(ms) is observe(ms / 1000), bounds and implausible ones included", async (t) => {
  const a = new PublishLatencyHistogram();
  const b = new PublishLatencyHistogram();
  const ms = [-2000, -1000, -500, 0, 1, 2, 3, 5, 25, 49, 50, 51, 75, 100, 2500, 10_000, 10_001, 60_000, 60_001, Number.NaN];
  for (const m of ms) {
    a.observe(m / 1000);
    b.observeMs(m);
  }
  t.same([...b.counts], [...a.counts]);
  t.equal(b.count, a.count);
  t.equal(b.sum, a.sum);
  t.same(b.implausible, a.implausible);
});
