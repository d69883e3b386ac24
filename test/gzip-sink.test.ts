import t from "tap";
import zlib from "node:zlib";
import { BlockDeflater, keepBlock } from "../src/fanout/block-deflater.js";
import type { Sink } from "../src/fanout/connection.js";
import { crc32CombineGen, crc32CombineOp } from "../src/fanout/crc32-combine.js";
import { GZIP_HEADER, GzipSink, gzipTrailer } from "../src/fanout/gzip-sink.js";

class Bytes implements Sink {
  readonly chunks: Buffer[] = [];
  ended = false;
  write(chunk: Uint8Array | string): boolean {
    this.chunks.push(Buffer.from(chunk));
    return true;
  }
  close(): void {}
  end(): void {
    this.ended = true;
  }
  get all(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const EVENTS = [
  "retry: 1500\n\n",
  'id: e-1\nevent: snapshot\ndata: [{"sym":"AAPL","ts":1,"seq":1,"bid":187.12,"ask":187.14}]\n\n',
  'id: e-2\nevent: quotes\ndata: [{"sym":"AAPL","ts":2,"seq":2,"bid":187.13,"ask":187.14},{"sym":"MSFT","ts":2,"seq":9,"bid":411.5,"ask":411.52}]\n\n',
  ":\n\n",
];

t.test("crc32 combine - gives zlib's CRC-32 of the concatenation", async (t) => {
  const parts = ["", "a", "hello, ", "world", "x".repeat(70_000), "\u00e9t\u00e9"].map((s) => Buffer.from(s));
  for (const a of parts) {
    for (const b of parts) {
      const got = crc32CombineOp(zlib.crc32(a), zlib.crc32(b), crc32CombineGen(b.length));
      t.equal(got, zlib.crc32(Buffer.concat([a, b])), `${a.length}+${b.length}`);
    }
  }
});

t.test("block deflater - reuses one zlib state and gives zlib's bytes, ending in a sync flush", async (t) => {
  const d = new BlockDeflater();
  t.equal(d.reusesState, true, "Node 20's binding is usable");
  for (const e of EVENTS) {
    const block = d.deflate(e);
    const want = zlib.deflateRawSync(Buffer.from(e), { level: 6, windowBits: 15, memLevel: 8, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    t.same(Buffer.from(block.bytes), want, JSON.stringify(e.slice(0, 20)));
    t.same(Buffer.from(block.bytes.subarray(-4)), Buffer.of(0, 0, 0xff, 0xff), "ends with the sync flush's empty stored block");
    t.equal(block.length, Buffer.byteLength(e));
    t.equal(block.crc, zlib.crc32(e));
  }
  t.equal(d.blocks, EVENTS.length);
});

t.test("block deflater - a chunk larger than its buffer still comes out whole", async (t) => {
  const d = new BlockDeflater();
  const big = Buffer.from(Array.from({ length: 100_000 }, () => String.fromCharCode(33 + Math.floor(Math.random() * 90))).join(""));
  const block = d.deflate(big);
  t.ok(block.bytes.length > 64 * 1024, `${block.bytes.length} bytes: more than the first buffer`);
  t.same(zlib.inflateRawSync(block.bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }), big);
});

t.test("gzip sink - header, independent blocks in any order, trailer: one valid gzip member", async (t) => {
  const d = new BlockDeflater();
  const shared = keepBlock(d.deflate(EVENTS[2]!));
  const sink = new Bytes();
  const gz = new GzipSink(sink, d);
  gz.write(EVENTS[0]!);
  gz.write(EVENTS[1]!);
  gz.writeBlock(shared);
  gz.writeBlock(shared);
  gz.write(EVENTS[3]!);
  gz.end();
  t.equal(sink.ended, true);
  t.same(sink.chunks[0], Buffer.from(GZIP_HEADER), "the ten header bytes first");
  const plain = EVENTS[0]! + EVENTS[1]! + EVENTS[2]! + EVENTS[2]! + EVENTS[3]!;
  t.same(sink.chunks.at(-1), Buffer.from(gzipTrailer(zlib.crc32(plain), Buffer.byteLength(plain))), "the trailer: final empty block, CRC-32 and length");
  t.same(Buffer.from(gzipTrailer(0x12345678, 5)), Buffer.of(3, 0, 0x78, 0x56, 0x34, 0x12, 5, 0, 0, 0));
  // gunzipSync checks the CRC-32 and the length.
  t.equal(zlib.gunzipSync(sink.all).toString(), plain);
  t.ok(gz.ratio > 0 && gz.ratio < 1, `ratio ${gz.ratio.toFixed(2)}`);
});

t.test("gzip sink - each event decompresses as soon as its block arrives", async (t) => {
  const d = new BlockDeflater();
  const sink = new Bytes();
  const gz = new GzipSink(sink, d);
  const gunzip = zlib.createGunzip();
  let out = "";
  gunzip.on("data", (c: Buffer) => (out += c.toString()));
  let expected = "";
  for (const e of EVENTS) {
    const before = sink.chunks.length;
    gz.write(e);
    expected += e;
    for (const c of sink.chunks.slice(before)) gunzip.write(c);
    await new Promise<void>((resolve) => gunzip.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    t.equal(out, expected, `after ${JSON.stringify(e.slice(0, 12))}`);
  }
});
