// Many SSE subscribers in one process, on raw sockets: an EventSource or node:http client per
// connection costs several times more CPU, and on a 2-core machine the client's CPU is taken
// from the server under test.
//
// Each socket decodes HTTP/1.1 chunked encoding by hand and consumes chunk data as soon as it
// arrives: uWebSockets.js writes each chunk's closing CRLF only in front of the NEXT chunk, so
// a client that waits for the CRLF sees every event one event late.

import { connect, type Socket } from "node:net";

/** Publish-to-receive latency, 1 ms buckets up to a minute: no allocation per sample. */
export class LatencyHistogram {
  readonly buckets = new Uint32Array(60_001);
  count = 0;
  max = 0;
  record(ms: number): void {
    const b = ms < 0 ? 0 : ms > 60_000 ? 60_000 : Math.round(ms);
    this.buckets[b]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  quantile(q: number): number {
    const want = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= want && seen > 0) return i;
    }
    return NaN;
  }
  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

export interface PoolTotals {
  quoteEvents: number;
  snapshots: number;
  heartbeats: number;
  /** Body bytes (after chunked decoding). */
  bytes: number;
  /** Quotes inside the quotes events of sampled connections. */
  sampledQuotes: number;
  sampledEvents: number;
}

const HEAD_END = "\r\n\r\n";

class Conn {
  socket: Socket | null = null;
  /** opening: waiting for the snapshot; live: streaming; done: failed, dropped or closed by us. */
  state: "opening" | "live" | "done" = "opening";
  head = "";
  inBody = false;
  chunked = false;
  /** Bytes left in the current chunk; -1 while reading a chunk-size line. */
  left = -1;
  sizeLine = "";
  text = "";
  events = 0;
  eventsAtMark = 0;
  onSnapshot: ((ok: boolean, why?: string) => void) | null = null;
  constructor(
    readonly pool: SsePool,
    readonly sampled: boolean,
  ) {}

  data(buf: Buffer): void {
    let s = buf.toString("latin1");
    if (!this.inBody) {
      this.head += s;
      const end = this.head.indexOf(HEAD_END);
      if (end < 0) return;
      const head = this.head.slice(0, end);
      s = this.head.slice(end + 4);
      this.head = "";
      this.inBody = true;
      if (!head.startsWith("HTTP/1.1 200")) return this.fail(head.split("\r\n")[0] ?? "bad response");
      this.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
    }
    if (!this.chunked) return this.body(s);
    let i = 0;
    while (i < s.length) {
      if (this.left < 0) {
        const nl = s.indexOf("\n", i);
        if (nl < 0) {
          this.sizeLine += s.slice(i);
          return;
        }
        const line = (this.sizeLine + s.slice(i, nl)).trim();
        this.sizeLine = "";
        i = nl + 1;
        // An empty line is the CRLF that closes the previous chunk.
        if (line === "") continue;
        this.left = parseInt(line, 16);
        if (this.left === 0) return this.fail("stream ended");
        continue;
      }
      const take = Math.min(this.left, s.length - i);
      this.body(s.slice(i, i + take));
      i += take;
      this.left -= take;
      if (this.left === 0) this.left = -1;
    }
  }

  body(s: string): void {
    const t = this.pool.totals;
    t.bytes += s.length;
    this.text += s;
    let start = 0;
    for (let end = this.text.indexOf("\n\n"); end >= 0; end = this.text.indexOf("\n\n", start)) {
      this.event(this.text, start, end);
      start = end + 2;
    }
    if (start > 0) this.text = this.text.slice(start);
  }

  event(text: string, start: number, end: number): void {
    const t = this.pool.totals;
    if (text.charCodeAt(start) === 58 /* ':' */) return void t.heartbeats++;
    const ev = text.indexOf("\nevent: ", start);
    if (ev < 0 || ev > end) return; // the retry: field
    if (text.startsWith("snapshot", ev + 8)) {
      t.snapshots++;
      if (this.state === "opening") {
        this.state = "live";
        this.onSnapshot?.(true);
      }
      return;
    }
    t.quoteEvents++;
    this.events++;
    if (!this.sampled) return;
    t.sampledEvents++;
    // Only sampled connections look inside the data: scanning every quote of every connection
    // would make the client, not the server, the bottleneck.
    const now = Date.now();
    for (let p = text.indexOf('"ts":', ev); p >= 0 && p < end; p = text.indexOf('"ts":', p + 5)) {
      t.sampledQuotes++;
      this.pool.latency.record(now - parseInt(text.slice(p + 5, p + 25), 10));
    }
  }

  /** The connection ended or went wrong: a failed open, or a drop if it was live. */
  fail(why: string): void {
    if (this.state === "opening") this.onSnapshot?.(false, why);
    else if (this.state === "live") this.pool.dropped++;
    this.state = "done";
    this.socket?.destroy();
  }
}

export interface OpenResult {
  opened: number;
  failed: number;
  firstError: string | undefined;
  seconds: number;
}

export class SsePool {
  readonly totals: PoolTotals = { quoteEvents: 0, snapshots: 0, heartbeats: 0, bytes: 0, sampledQuotes: 0, sampledEvents: 0 };
  readonly latency = new LatencyHistogram();
  readonly conns: Conn[] = [];
  /** Connections that closed after their snapshot: the server dropped them mid-run. */
  dropped = 0;

  constructor(readonly port: number) {}

  /**
   * Open `n` subscriptions, `concurrency` at a time, each done once its snapshot arrives.
   * `pathOf(i)` is the request path of the i-th; every `sampleEvery`-th connection measures latency.
   */
  async open(n: number, pathOf: (i: number) => string, sampleEvery: number, concurrency = 200, timeoutMs = 10_000): Promise<OpenResult> {
    const started = performance.now();
    let next = 0;
    let opened = 0;
    let failed = 0;
    let firstError: string | undefined;
    const one = (i: number) =>
      new Promise<void>((resolve) => {
        const c = new Conn(this, i % sampleEvery === 0);
        this.conns.push(c);
        const timer = setTimeout(() => c.fail("no snapshot within timeout"), timeoutMs);
        c.onSnapshot = (ok, why) => {
          clearTimeout(timer);
          if (ok) opened++;
          else {
            failed++;
            firstError ??= why;
          }
          resolve();
        };
        const socket = connect({ host: "127.0.0.1", port: this.port, noDelay: true });
        c.socket = socket;
        socket.on("connect", () => socket.write(`GET ${pathOf(i)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`));
        socket.on("data", (b: Buffer) => c.data(b));
        socket.on("error", (err) => c.fail(err.message));
        socket.on("close", () => c.fail("closed"));
      });
    // A server that cannot take more connections would otherwise cost a timeout per remaining
    // connection: past this many failures the rest are not attempted and count as failed.
    const giveUpAfter = Math.max(100, Math.ceil(n / 10));
    const worker = async () => {
      while (next < n && failed < giveUpAfter) await one(next++);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    if (next < n) {
      firstError = `${firstError}; gave up after ${failed} failures, ${n - next} not attempted`;
      failed += n - next;
    }
    return { opened, failed, firstError, seconds: (performance.now() - started) / 1000 };
  }

  /** Start of a measurement window: per-connection counts and latencies restart. */
  mark(): PoolTotals {
    this.latency.reset();
    for (const c of this.conns) c.eventsAtMark = c.events;
    return { ...this.totals };
  }

  /** Fewest and most quotes events one live connection got since mark(): a fair server keeps them close. */
  spread(): { min: number; max: number } {
    let min = Infinity;
    let max = 0;
    for (const c of this.conns) {
      if (c.state !== "live") continue;
      const n = c.events - c.eventsAtMark;
      if (n < min) min = n;
      if (n > max) max = n;
    }
    return { min: min === Infinity ? 0 : min, max };
  }

  close(): void {
    for (const c of this.conns) {
      c.state = "done"; // a close we asked for is not a drop
      c.socket?.destroy();
    }
  }
}
