import type { HttpResponse } from "uWebSockets.js";
import type { Sink } from "../fanout/connection.js";

/**
 * A Sink over one uWS response. Holds the two callbacks it needs so that a write allocates
 * nothing: with tens of thousands of connections and a frame every 50 ms, a closure per write
 * is measurable garbage.
 */
export class UwsSink implements Sink {
  /** Set when uWS reports the response aborted: it must never be touched again. */
  aborted = false;
  #chunk: Uint8Array | string = "";
  #ok = true;
  readonly #res: HttpResponse;
  readonly #corkedWrite: () => void;

  constructor(res: HttpResponse) {
    this.#res = res;
    this.#corkedWrite = () => {
      this.#ok = this.#res.write(this.#chunk);
    };
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.aborted) return true;
    this.#chunk = chunk;
    // Writes from our timers are outside any uWS callback: cork so that the chunk's header,
    // body and trailer leave in one syscall.
    this.#res.cork(this.#corkedWrite);
    this.#chunk = "";
    return this.#ok;
  }

  close(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.#res.close();
  }

  /**
   * End the stream and close the connection (drain). Not `res.end()`: uWS 20.30 either leaves
   * the keep-alive socket open, so the browser's reconnect lands on this draining server again
   * and its 503 is fatal to EventSource, or, with `closeConnection`, writes a stray
   * `Connection: close` header into the chunked body (both seen here). Closing after the last
   * corked write has been flushed delivers every byte, and EventSource reconnects after `retry:`.
   */
  end(): void {
    this.close();
  }
}
