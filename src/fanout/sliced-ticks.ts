import type { Fanout } from "./fanout.js";

/**
 * Runs each flush tick in slices of at most `framesPerSlice` frames, giving the event loop a turn
 * between two slices: the feed is read and sockets drain while a long tick writes, so a frame
 * written late in the tick carries values as fresh as one written early. (Run whole, a tick that
 * writes to 10,000 connections holds the feed back for as long as it takes, and the last frames
 * carry quotes that old.) A window that begins while a tick still runs starts its tick as soon as
 * that one is done.
 */
export class SlicedTicks {
  readonly #fanout: Pick<Fanout, "beginTick" | "runTick">;
  readonly #framesPerSlice: number;
  #running = false;
  #due = false;
  #immediate: NodeJS.Immediate | null = null;

  constructor(fanout: Pick<Fanout, "beginTick" | "runTick">, framesPerSlice: number) {
    this.#fanout = fanout;
    this.#framesPerSlice = framesPerSlice;
  }

  /** The flush clock's callback: a window began. */
  readonly onTick = (now: number): void => {
    if (this.#running) {
      this.#due = true;
      return;
    }
    this.#fanout.beginTick(now);
    this.#running = true;
    this.#slice();
  };

  /** Cancels the slices still to come (`Fanout.tick` finishes their tick); a later window begins afresh. */
  stop(): void {
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#immediate = null;
    this.#running = false;
    this.#due = false;
  }

  readonly #slice = (): void => {
    this.#immediate = null;
    let more = false;
    try {
      while (this.#fanout.runTick(this.#framesPerSlice)) {
        if (!this.#due) return;
        this.#due = false;
        this.#fanout.beginTick(performance.now());
      }
      more = true;
    } finally {
      // A slice that threw leaves no tick running here: the next window begins one, which
      // finishes what this one left first.
      if (more) this.#immediate = setImmediate(this.#slice);
      else this.#running = false;
    }
  };
}
