import type { HttpResponse } from "uWebSockets.js";
import type { Sink } from "../stream/connection.js";

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

  /** `onEnded` runs when the stream is ended by us (drain); aborts are the route's to handle. */
  constructor(res: HttpResponse, private readonly onEnded: () => void = () => undefined) {
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

  /** End the response cleanly (the chunked terminator), as drain does after the last frame. */
  end(): void {
    if (this.aborted) return;
    this.aborted = true;
    // closeConnection: the client must reconnect, preferably to another instance.
    this.#res.cork(() => this.#res.end(undefined, true));
    this.onEnded();
  }
}
