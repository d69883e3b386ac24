import { LatencyHistogram, PublishLatencyHistogram } from "./latency-histogram.js";

/** What the fan-out counts; plain fields so the hot path only adds numbers. */
export class FanoutCounters {
  framesSent = 0;
  /** Distinct frames assembled: framesSent over this is how many connections share each one. */
  framesBuilt = 0;
  bytesSent = 0;
  heartbeatsSent = 0;
  slowConsumerDisconnects = 0;
  /** Frames a connection's bandwidth budget (`maxKbps`) kept from it: each time one was due and held back. */
  framesHeldBack = 0;
  /** Time from a quote's publish (`ts`) to the write of the frame holding it, per quote per frame built. */
  readonly publishToWrite = new PublishLatencyHistogram();
  /** Time one flush tick took. */
  readonly flushDuration = new LatencyHistogram([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]);
}
