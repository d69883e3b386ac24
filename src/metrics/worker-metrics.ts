import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from "prom-client";
import type { InvalidReason } from "../feed/validate.js";
import { AUTH_FAILURE_REASONS, type AuthFailureReason } from "../auth/auth-failure.js";
import { INVALID_REASONS } from "../feed/validate.js";
import type { StreamCounters } from "../stream/stream-counters.js";
import type { LatencyHistogram } from "../stream/latency-histogram.js";

/** Why a connection was refused; the `reason` label of quotecast_rejected_connections_total. */
export type RejectReason = "max_connections" | "max_connections_per_ip" | "connect_rate" | "connect_rate_per_ip" | "draining";
export const REJECT_REASONS: readonly RejectReason[] = ["max_connections", "max_connections_per_ip", "connect_rate", "connect_rate_per_ip", "draining"];

/** Numbers the worker keeps as plain fields; read only when Prometheus scrapes. */
export interface WorkerMetricSources {
  readonly stream: StreamCounters;
  connections(): number;
  quotesReceived(): number;
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
  total("quotecast_frames_sent_total", "SSE events written (snapshots and quotes events)", () => src.stream.framesSent);
  total("quotecast_frames_built_total", "Distinct quotes events assembled: frames sent over this is how many connections share each", () => src.stream.framesBuilt);
  total("quotecast_bytes_sent_total", "SSE bytes written, heartbeats included", () => src.stream.bytesSent);
  total("quotecast_heartbeats_sent_total", "Heartbeat comments written", () => src.stream.heartbeatsSent);
  total("quotecast_slow_consumer_disconnects_total", "Connections closed for staying congested too long", () => src.stream.slowConsumerDisconnects);
  labelled("quotecast_feed_invalid_messages_total", "Feed messages dropped as invalid, by reason", INVALID_REASONS, src.invalid, registry);
  labelled("quotecast_rejected_connections_total", "Subscriptions refused, by reason", REJECT_REASONS, src.rejected, registry);
  labelled("quotecast_auth_failures_total", "Subscriptions refused by authentication, entitlement or origin policy, by reason", AUTH_FAILURE_REASONS, src.authFailures, registry);
  registry.registerMetric(histogram("quotecast_publish_to_write_seconds", "Time from a quote's publish (its ts) to the write of the frame that carries it", src.stream.publishToWrite));
  registry.registerMetric(histogram("quotecast_flush_duration_seconds", "Time one coalescing flush took", src.stream.flushDuration));
  return registry;
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
