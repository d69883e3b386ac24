import { monitorEventLoopDelay } from "node:perf_hooks";
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from "prom-client";
import type { InvalidReason } from "../ingest/validate.js";
import { AUTH_FAILURE_REASONS, type AuthFailureReason } from "../auth/auth-failure.js";
import { INVALID_REASONS } from "../ingest/validate.js";
import type { FanoutCounters } from "../fanout/fanout-counters.js";
import { IMPLAUSIBLE_LATENCY_REASONS, type LatencyHistogram } from "../fanout/latency-histogram.js";

/** Why a connection was refused; the `reason` label of quotecast_rejected_connections_total. */
export type RejectReason = "max_connections" | "max_connections_per_ip" | "connect_rate" | "connect_rate_per_ip" | "draining" | "subscription_budget";
export const REJECT_REASONS: readonly RejectReason[] = ["max_connections", "max_connections_per_ip", "connect_rate", "connect_rate_per_ip", "draining", "subscription_budget"];

/** Numbers the worker keeps as plain fields; read only when Prometheus scrapes. */
export interface WorkerMetricSources {
  readonly fanout: FanoutCounters;
  connections(): number;
  quotesReceived(): number;
  /** Live feed messages left to JetStream because they were not the next stream sequence. */
  outOfOrderLive(): number;
  /** Distinct symbols held, and quotes dropped for `--max-feed-symbols`. */
  feedSymbols(): number;
  feedSymbolsOverCap(): number;
  natsConnected(): boolean;
  readonly invalid: Record<InvalidReason, number>;
  readonly rejected: Record<RejectReason, number>;
  readonly authFailures: Record<AuthFailureReason, number>;
}

/**
 * The worker's Prometheus registry. Nothing on the hot path touches prom-client: every metric
 * reads the worker's own counters in `collect`, at scrape time.
 */
export function createWorkerRegistry(src: WorkerMetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "quotecast_" });
  const total = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  new Gauge({ name: "quotecast_connections", help: "Open SSE connections", registers: [registry], collect() { this.set(src.connections()); } });
  new Gauge({ name: "quotecast_nats_connected", help: "1 while connected to NATS", registers: [registry], collect() { this.set(src.natsConnected() ? 1 : 0); } });
  total("quotecast_quotes_received_total", "Feed messages received from NATS (valid or not)", src.quotesReceived);
  total("quotecast_feed_out_of_order_total", "Live feed messages not taken because they were not the next stream sequence (after an outage, or forged on qc.live.>); JetStream is read instead", src.outOfOrderLive);
  new Gauge({ name: "quotecast_feed_symbols", help: "Distinct feed symbols held (at most --max-feed-symbols), the largest over workers", aggregator: "max", registers: [registry], collect() { this.set(src.feedSymbols()); } });
  total("quotecast_feed_symbols_over_cap_total", "Feed quotes dropped because their symbol was new and --max-feed-symbols was reached", src.feedSymbolsOverCap);
  total("quotecast_frames_sent_total", "SSE events written (snapshots and quotes events)", () => src.fanout.framesSent);
  total("quotecast_frames_built_total", "Distinct quotes events assembled: frames sent over this is how many connections share each", () => src.fanout.framesBuilt);
  total("quotecast_bytes_sent_total", "SSE bytes written, heartbeats included", () => src.fanout.bytesSent);
  total("quotecast_frames_held_back_total", "Frames a connection's bandwidth budget (maxKbps) held back when they were due", () => src.fanout.framesHeldBack);
  total("quotecast_heartbeats_sent_total", "Heartbeat comments written", () => src.fanout.heartbeatsSent);
  total("quotecast_slow_consumer_disconnects_total", "Connections closed for staying congested too long", () => src.fanout.slowConsumerDisconnects);
  labelled("quotecast_feed_invalid_messages_total", "Feed messages dropped as invalid, by reason", INVALID_REASONS, src.invalid, registry);
  labelled("quotecast_rejected_connections_total", "Subscriptions refused, by reason", REJECT_REASONS, src.rejected, registry);
  labelled("quotecast_auth_failures_total", "Subscriptions refused by authentication, entitlement or origin policy, by reason", AUTH_FAILURE_REASONS, src.authFailures, registry);
  eventLoopLagP99Max(registry);
  labelled("quotecast_publish_to_write_out_of_range_total", "Publish-to-write latencies not observed: a ts more than 1 s ahead (future) or over 60 s old (too_old)", IMPLAUSIBLE_LATENCY_REASONS, src.fanout.publishToWrite.implausible, registry);
  registry.registerMetric(histogram("quotecast_publish_to_write_seconds", "Time from a quote's publish (its ts) to the write of the frame that carries it", src.fanout.publishToWrite));
  registry.registerMetric(histogram("quotecast_flush_duration_seconds", "Time one coalescing flush took", src.fanout.flushDuration));
  return registry;
}

/**
 * prom-client's event-loop lag percentiles (quotecast_nodejs_eventloop_lag_p99_seconds and the
 * like) are averaged over the workers by the primary, so one stuck worker among four shows as a
 * quarter of its lag. (Its _max gauge is aggregated with max, but a single GC pause sets it.) This
 * is each worker's p99 since the previous scrape, and the primary reports the largest.
 */
function eventLoopLagP99Max(registry: Registry): void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  new Gauge({
    name: "quotecast_eventloop_lag_p99_max_seconds",
    help: "The highest event-loop lag p99 of any one worker since the previous scrape",
    registers: [registry],
    aggregator: "max",
    collect() {
      // Less the sampling interval, which the histogram counts as delay.
      this.set(Math.max(0, delay.percentile(99) / 1e9 - 0.01));
      delay.reset();
    },
  });
}

function labelled<R extends string>(name: string, help: string, reasons: readonly R[], counts: Record<R, number>, registry: Registry): void {
  new Counter({
    name,
    help,
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of reasons) this.inc({ reason }, counts[reason]);
    },
  });
}

/** A prom-client metric over a LatencyHistogram (which the hot path fills without prom-client). */
function histogram(name: string, help: string, h: LatencyHistogram): Metric {
  const get = () => {
    const cumulative = h.cumulative();
    const values = h.bounds.map((le, i) => ({ labels: { le }, value: cumulative[i]!, metricName: `${name}_bucket` }));
    values.push({ labels: { le: "+Inf" as unknown as number }, value: h.count, metricName: `${name}_bucket` });
    return {
      name,
      help,
      type: "histogram" as const,
      aggregator: "sum" as const,
      values: [...values, { labels: {}, value: h.sum, metricName: `${name}_sum` }, { labels: {}, value: h.count, metricName: `${name}_count` }],
    };
  };
  return { name, help, type: "histogram", aggregator: "sum", get } as unknown as Metric;
}
