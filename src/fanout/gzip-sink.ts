import type { BlockDeflater, DeflatedBlock } from "./block-deflater.js";
import type { Sink } from "./connection.js";
import { crc32CombineOp } from "./crc32-combine.js";

/**
 * A gzip stream (RFC 1952, one member) over another sink, made of independently compressed
 * blocks (see BlockDeflater): frames shared by many connections are compressed once, and all a
 * connection keeps is its running CRC-32 and length, for the trailer. No zlib stream per
 * connection: a compressed connection costs a few dozen bytes more than a plain one.
 *
 * Every block ends with a sync flush, so each event can be decompressed, and is handed to
 * EventSource, as soon as it arrives.
 */
export class GzipSink implements Sink {
  #started = false;
  #crc = 0;
  /** Uncompressed length modulo 2^32 (gzip's ISIZE). */
  #size = 0;
  /** Bytes in and out so far, for `ratio`. */
  #in = 0;
  #out = 0;
  readonly #inner: Sink;
  readonly #deflater: BlockDeflater;

  constructor(inner: Sink, deflater: BlockDeflater) {
    this.#inner = inner;
    this.#deflater = deflater;
  }

  /** A chunk of its own (retry line, snapshot, comment): compressed for this connection alone. */
  write(chunk: Uint8Array | string): boolean {
    return this.writeBlock(this.#deflater.deflate(chunk));
  }

  /** A block compressed once for every connection that receives it. */
  writeBlock(block: DeflatedBlock): boolean {
    if (!this.#started) {
      this.#started = true;
      this.#inner.write(GZIP_HEADER);
    }
    this.#crc = crc32CombineOp(this.#crc, block.crc, block.combineOp);
    this.#size = (this.#size + block.length) >>> 0;
    this.#in += block.length;
    this.#out += block.bytes.length;
    return this.#inner.write(block.bytes);
  }

  /** Compressed over uncompressed bytes so far (1 before any). */
  get ratio(): number {
    return this.#in === 0 ? 1 : this.#out / this.#in;
  }

  close(): void {
    this.#inner.close();
  }

  /** End the gzip member (final empty block, CRC-32, length), then the stream. */
  end(): void {
    if (this.#started) this.#inner.write(gzipTrailer(this.#crc, this.#size));
    this.#inner.end();
  }
}

/**
 * Magic, deflate, no flags, no mtime, no extra flags, OS unknown (255): the same ten bytes for
 * every connection.
 */
export const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff);

/** An empty final block with fixed codes (BFINAL=1, BTYPE=01, end-of-block), then CRC-32 and ISIZE, little-endian. */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const out = Buffer.alloc(10);
  out[0] = 0x03;
  out[1] = 0x00;
  out.writeUInt32LE(crc >>> 0, 2);
  out.writeUInt32LE(size >>> 0, 6);
  return out;
}
