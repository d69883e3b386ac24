import type { ByteBudget } from "./byte-budget.js";
import type { GzipSink } from "./gzip-sink.js";
import type { FrameGroup } from "./frame-group.js";

/**
 * Where a connection's bytes go. The uWS edge implements it; tests use an in-memory one.
 * `write` returns false when the socket is congested. The chunk was still taken, but nothing
 * more may be written until `Fanout.onWritable`: uWebSockets.js 20.30 loses HTTP chunks that are
 * written while earlier ones wait in its backpressure buffer (seen here, and see uWS.js#1249).
 * A chunk is valid only during the call (frames are built in one reused buffer): a sink that
 * keeps it must copy it, as uWS does.
 */
export interface Sink {
  write(chunk: Uint8Array | string): boolean;
  /** Close the socket at once (slow consumer). */
  close(): void;
  /** End the stream cleanly and close the connection (drain). */
  end(): void;
}

export type ConnectionState = "parked" | "live" | "closed";

/** The fan-out side of one SSE connection: what it is owed and whether it may be written to. */
export class Connection {
  state: ConnectionState = "parked";
  /** performance.now() when the socket became congested; -1 while it is writable. */
  congestedSince = -1;
  /** When its last quotes event was written: the `interval` window is measured from here. */
  lastEventAt = Number.NEGATIVE_INFINITY;
  /** When anything was last written: heartbeats fill silences. */
  lastWriteAt: number;
  /**
   * Every change of its symbols numbered at or below this (see `Fanout`) has reached it, in a
   * frame or in its snapshot. Equal to its group's `sentMark` while it is in step and shares the
   * group's frames; behind it while congested or inside its own window, and then owed the
   * group's symbols changed since: latest value wins, so nothing queues up for it. Ahead of it
   * after its snapshot or a frame of its own: it shares the group's next frame only if that
   * frame holds nothing it already has.
   */
  sentMark = 0;
  /** Its place in its group's members. */
  memberIndex = -1;
  /**
   * Non-null when it runs on a bandwidth budget (`maxKbps`): per symbol of its group, in the group's
   * order, the change number up to which a frame of its own carried that symbol although
   * `sentMark` did not move (a frame the budget cut short). A symbol is owed while its change
   * number is above both.
   */
  readonly slotMarks: Float64Array | null;
  /** Where its next budgeted frame starts in its group's symbols: after a cut, at the first symbol left out. */
  rotor = 0;

  constructor(
    readonly group: FrameGroup,
    readonly sink: Sink,
    /** The `Last-Event-ID` the client sent, if any. */
    readonly resumeId: string | undefined,
    now: number,
    /** The same object as `sink` when the stream is gzip: shared frames go to it compressed once. */
    readonly gzip: GzipSink | null = null,
    /** Its bandwidth budget; null when unlimited. */
    readonly budget: ByteBudget | null = null,
  ) {
    this.lastWriteAt = now;
    this.slotMarks = budget === null ? null : new Float64Array(group.slots.length);
  }

  get congested(): boolean {
    return this.congestedSince >= 0;
  }
}
