import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log/logger.js";
import type { Fanout } from "../fanout/fanout.js";
import { retryField } from "../fanout/sse-frames.js";

/** How often a slice of connections is closed while draining. */
const CLOSE_SLICE_MS = 50;
/** Reconnect delay told to drained clients: 0.5–2.5 s, so they do not come back in one wave. */
const DRAIN_RETRY_MIN_MS = 500;
const DRAIN_RETRY_JITTER_MS = 2000;

/**
 * Graceful drain on SIGTERM/SIGINT: flush what is pending, tell every client to reconnect with
 * jitter, and close the connections spread over the drain window so that their reconnects
 * spread over the other instances instead of arriving all at once.
 */
export class Drain {
  started = false;
  readonly #fanout: Fanout;
  readonly #drainMs: number;
  readonly #flushMs: number;
  readonly #log: Logger;

  constructor(fanout: Fanout, drainMs: number, flushMs: number, log: Logger) {
    this.#fanout = fanout;
    this.#drainMs = drainMs;
    this.#flushMs = flushMs;
    this.#log = log;
  }

  /** `flush` writes every pending frame now; the flush clock keeps running meanwhile. */
  async run(flush: () => void): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.#log.info({ connections: this.#fanout.connectionCount, drainMs: this.#drainMs }, "draining");
    // A group flushed just before the signal is still inside its window: wait one window so that
    // what was published before the signal goes out before the first connection is closed.
    await sleep(this.#flushMs);
    flush();
    const conns = [...this.#fanout.connections()];
    for (const conn of conns) {
      if (conn.state === "closed" || conn.congested) continue;
      conn.sink.write(retryField(DRAIN_RETRY_MIN_MS + Math.random() * DRAIN_RETRY_JITTER_MS));
    }
    shuffle(conns);
    // Evenly over the window (the last slice closes one gap before its end), in slices no closer
    // than CLOSE_SLICE_MS apart.
    const slices = Math.max(1, Math.min(conns.length, Math.floor(this.#drainMs / CLOSE_SLICE_MS)));
    const gapMs = this.#drainMs / slices;
    const perSlice = Math.ceil(conns.length / slices);
    for (let i = 0; i < conns.length; i += perSlice) {
      if (i > 0) await sleep(gapMs);
      for (const conn of conns.slice(i, i + perSlice)) {
        if (conn.state === "closed") continue;
        this.#fanout.remove(conn);
        // A congested socket could not take the end of the stream anyway: close it outright.
        if (conn.congested) conn.sink.close();
        else conn.sink.end();
      }
    }
    this.#log.info("drain complete");
  }
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}
