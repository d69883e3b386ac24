import t from "tap";
import { metricValue } from "./helpers/quotecast.js";

t.test("test helpers - metricValue reads a sample and fails on one that is absent", async (t) => {
  const scrape = ["# HELP quotecast_connections Open SSE connections", "quotecast_connections 0", 'quotecast_rejected_connections_total{reason="draining"} 3', "quotecast_bad NaN", ""].join("\n");
  t.equal(metricValue(scrape, "quotecast_connections"), 0);
  t.equal(metricValue(scrape, "quotecast_rejected_connections_total", 'reason="draining"'), 3);
  // "equals 0" must not pass because the metric disappeared from the scrape.
  t.throws(() => metricValue(scrape, "quotecast_frames_sent_total"), /quotecast_frames_sent_total is not in the scrape/);
  t.throws(() => metricValue(scrape, "quotecast_rejected_connections_total", 'reason="max_connections"'), /not in the scrape/);
  t.throws(() => metricValue(scrape, "quotecast_connection"), /not in the scrape/, "a prefix of a name is not the name");
  t.throws(() => metricValue(scrape, "quotecast_bad"), /not a number/);
});
