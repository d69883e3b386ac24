import zlib from "node:zlib";
import { crc32CombineGen } from "./crc32-combine.js";

/**
 * One chunk compressed on its own: raw deflate blocks that refer to nothing before them, ended
 * by a sync flush (an empty stored block, so the bytes end on a byte boundary and the block is
 * not final). Such blocks can follow any others in any deflate stream: a frame is compressed
 * once and the same bytes go to every connection that receives it, each inside its own gzip
 * stream (see GzipSink).
 */
export interface DeflatedBlock {
  /** The compressed bytes. From `BlockDeflater.deflate`: valid until its next call. */
  readonly bytes: Uint8Array;
  /** Length of the uncompressed chunk. */
  readonly length: number;
  /** CRC-32 of the uncompressed chunk. */
  readonly crc: number;
  /** `crc32CombineGen(length)`: appends this chunk to a running CRC. */
  readonly combineOp: number;
}

/**
 * Compression settings of the shared blocks, chosen from `npm run bench -- compression` (see
 * docs/compression-and-budget.md). The window and hash table are the worker's, not a
 * connection's: one compressor per worker, so a large window costs nothing per connection, and
 * a block never refers back further than its own chunk whatever the window.
 */
export const BLOCK_LEVEL = 6;
const WINDOW_BITS = 15;
const MEM_LEVEL = 8;

/** The writeSync binding every Node zlib stream has (Node 10 and later); not public API. */
interface ZlibHandle {
  reset(): void;
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
}

/**
 * The worker's one compressor of independent blocks. Reuses one zlib state and one output
 * buffer: compressing a frame allocates nothing (a fresh `deflateRawSync` per frame would set up
 * and tear down a zlib state, about 10 µs and 300 KB of churn each).
 *
 * Node has no public synchronous way to reuse a zlib state (`deflateRawSync` closes its stream),
 * so this drives the stream's binding directly, as Node's own `zlib.*Sync` do. Should a Node
 * release change that binding, the constructor sees it and every block goes through
 * `deflateRawSync` instead: slower, same bytes.
 */
export class BlockDeflater {
  #out: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  #views = new Map<number, Buffer>();
  readonly #handle: ZlibHandle | null;
  readonly #state: Uint32Array | null;
  readonly #block = { bytes: EMPTY as Uint8Array, length: 0, crc: 0, combineOp: 0 };
  /** Chunks compressed (every call to `deflate`). */
  blocks = 0;

  constructor() {
    const stream = new zlib.DeflateRaw({ level: BLOCK_LEVEL, windowBits: WINDOW_BITS, memLevel: MEM_LEVEL }) as unknown as {
      _handle?: Partial<ZlibHandle>;
      _writeState?: unknown;
    };
    const h = stream._handle;
    const usable = h !== undefined && typeof h.writeSync === "function" && typeof h.reset === "function" && stream._writeState instanceof Uint32Array;
    this.#handle = usable ? (h as ZlibHandle) : null;
    this.#state = usable ? (stream._writeState as Uint32Array) : null;
    if (usable && !this.#selfCheck()) {
      this.#handle = null;
      this.#state = null;
    }
  }

  /** True when blocks are made by the reused zlib state (not the fallback). */
  get reusesState(): boolean {
    return this.#handle !== null;
  }

  /** What the last call to `deflate` returned (valid until the next). */
  get last(): DeflatedBlock {
    return this.#block;
  }

  /** Compress `chunk` on its own. The result is valid until the next call. */
  deflate(chunk: Uint8Array | string): DeflatedBlock {
    const input = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const b = this.#block;
    this.blocks++;
    b.length = input.length;
    b.crc = zlib.crc32(input);
    b.combineOp = crc32CombineGen(input.length);
    b.bytes = this.#handle !== null ? this.#deflateReused(input) : zlib.deflateRawSync(input, FALLBACK_OPTIONS);
    return b;
  }

  #deflateReused(input: Uint8Array): Buffer {
    const h = this.#handle!;
    const state = this.#state!;
    for (;;) {
      const out = this.#out;
      h.reset();
      h.writeSync(zlib.constants.Z_SYNC_FLUSH, input, 0, input.length, out, 0, out.length);
      // state: [output space left, input left]. Output space left over means zlib finished the
      // flush; none left, and it may not have: retry with room to spare.
      if (state[0]! > 0 && state[1] === 0) {
        const len = out.length - state[0]!;
        let view = this.#views.get(len);
        if (view === undefined) this.#views.set(len, (view = out.subarray(0, len)));
        return view;
      }
      this.#out = Buffer.allocUnsafeSlow(Math.max(out.length * 2, input.length + (input.length >> 3) + 1024));
      this.#views = new Map();
    }
  }

  /** The reused state must give what zlib's own sync call gives. */
  #selfCheck(): boolean {
    try {
      const sample = Buffer.from('id: x\nevent: quotes\ndata: [{"sym":"AAPL","bid":1.5},{"sym":"AAPL","bid":1.5}]\n\n');
      const a = Buffer.from(this.#deflateReused(sample));
      const b = Buffer.from(this.#deflateReused(sample));
      return a.equals(zlib.deflateRawSync(sample, FALLBACK_OPTIONS)) && a.equals(b);
    } catch {
      return false;
    }
  }
}

const EMPTY = new Uint8Array(0);
const FALLBACK_OPTIONS: zlib.ZlibOptions = {
  level: BLOCK_LEVEL,
  windowBits: WINDOW_BITS,
  memLevel: MEM_LEVEL,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
};

/** A copy of a block that outlives the deflater's next call (for constant chunks such as the heartbeat). */
export function keepBlock(block: DeflatedBlock): DeflatedBlock {
  return { bytes: Buffer.from(block.bytes), length: block.length, crc: block.crc, combineOp: block.combineOp };
}
