// One load-generator process: a share of the SSE connections of a run, on raw sockets, driven
// by the bench runner over IPC (bench/lib/loadgen.ts). Several of these run side by side so
// that 18k connections fit under `ulimit -n` and the parsing is spread over both cores.
//
// Each connection binds a source address 127.0.0.x (round-robin): one address has about 28k
// ephemeral ports towards one server port, and a connect storm leaves many in TIME_WAIT.
//
// Reads land in one shared buffer (net's `onread`). Per quote it costs one indexOf and a digit loop (publish→receive latency into a fixed
// histogram: no arrays of samples). Only in "verify" mode, at the end of a run, does it read
// each quote's sym and seq to check every connection holds every symbol's final value.
//
// Visibility lag: the publisher reports when it sent each seq of each symbol (via the runner,
// "pubtimes"); each connection keeps the newest seq it holds of each symbol, and when an event
// brings seq s of a symbol it held at p, seqs p+1..s all became visible now: one sample each,
// now minus the time that seq was sent. Unlike the age at arrival (now minus the `ts` of the
// quote that arrived), it counts the quotes conflation replaced, as a user waiting for them
// does. Objects are found by `"sym":"`, so it works for full quotes and for deltas (which
// always carry seq); symbols are the bench's BNnnnn.

import { connect, type Socket } from "node:net";
import zlib from "node:zlib";
import { LatencyHistogram } from "./histogram.js";
import type { ClientCommand, ClientReply, ClientTotals } from "./protocol.js";

const HEAD_END = "\r\n\r\n";
/** Where every socket of this process reads into (one at a time: the parser copies what it keeps). */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** Where gzip streams decompress into (one at a time, as READ_BUFFER). */
const INFLATE_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** A zlib stream's binding, driven synchronously as Node's own zlib.*Sync do (not public API). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
}

/** One gzip stream decompressed as it arrives, as a browser does. */
class Inflater {
  readonly #stream = zlib.createGunzip();
  readonly #handle = (this.#stream as unknown as { _handle: ZlibHandle })._handle;
  readonly #state = (this.#stream as unknown as { _writeState: Uint32Array })._writeState;
  /** Everything `input` decompresses to so far, as latin1 text. */
  inflate(input: Buffer): string {
    let out = "";
    let off = 0;
    for (;;) {
      this.#handle.writeSync(zlib.constants.Z_SYNC_FLUSH, input, off, input.length - off, INFLATE_BUFFER, 0, INFLATE_BUFFER.length);
      const produced = INFLATE_BUFFER.length - this.#state[0]!;
      out += INFLATE_BUFFER.toString("latin1", 0, produced);
      off = input.length - this.#state[1]!;
      // Output space left over: all input taken and flushed.
      if (this.#state[0]! > 0) return out;
    }
  }
  close(): void {
    this.#stream.close();
  }
}

let cfg: Extract<ClientCommand, { cmd: "init" }>;
const latency = new LatencyHistogram();
const visibility = new LatencyHistogram();
const totals: ClientTotals = { events: 0, quotes: 0, bytes: 0, snapshots: 0, heartbeats: 0, dropped: 0, delivered: 0 };
/** Per symbol index, when the publisher sent each seq (0: not reported yet). */
const sentAt: Float64Array[] = [];
/**
 * Per symbol index, samples whose seq's send time had not been reported when it became visible:
 * (seq, at) pairs, in the order they became visible, from `pendingHead[sym]` on. The publisher
 * reports each symbol's seqs in order, so a report resolves a prefix: no scan of the rest (under
 * load the reports lag, and a scan of every pending sample per report stalled a load generator).
 */
let pending: number[][] = [];
let pendingHead: number[] = [];

function sentTime(sym: number, seq: number): number {
  const times = sentAt[sym];
  return times !== undefined && seq < times.length ? times[seq]! : 0;
}

function addSentTimes(log: readonly number[]): void {
  for (let k = 0; k < log.length; k += 3) {
    const sym = log[k]!;
    const seq = log[k + 1]!;
    let times = sentAt[sym];
    if (times === undefined || seq >= times.length) {
      const bigger = new Float64Array(Math.max(1024, seq * 2));
      if (times !== undefined) bigger.set(times);
      sentAt[sym] = times = bigger;
    }
    times[seq] = log[k + 2]!;
    const waiting = pending[sym];
    if (waiting === undefined) continue;
    let h = pendingHead[sym] ?? 0;
    for (; h < waiting.length; h += 2) {
      const t = sentTime(sym, waiting[h]!);
      if (t === 0) break;
      visibility.record(waiting[h + 1]! - t);
    }
    if (h >= waiting.length) {
      waiting.length = 0;
      h = 0;
    }
    pendingHead[sym] = h;
  }
}

function waitFor(sym: number, seq: number, at: number): void {
  (pending[sym] ??= []).push(seq, at);
}
let verifying = false;
const conns: Conn[] = [];

class Conn {
  socket: Socket | null = null;
  state: "opening" | "live" | "done" = "opening";
  head = "";
  inBody = false;
  chunked = false;
  left = -1;
  sizeLine = "";
  text = "";
  /** Set when the server answered `Content-Encoding: gzip`. */
  inflater: Inflater | null = null;
  /** sym → seq of the newest quote seen, filled only in verify mode. */
  seen: Map<string, number> | null = null;
  /** Newest seq held per symbol index (visibility lag). */
  held: Int32Array | null = null;
  onOpen: ((ok: boolean, why?: string) => void) | null = null;
  constructor(
    readonly index: number,
    readonly slow: boolean,
  ) {}

  data(buf: Buffer, n: number): void {
    let s = buf.toString("latin1", 0, n);
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
      if (/\r\ncontent-encoding:\s*gzip/i.test(head)) this.inflater = new Inflater();
      // nchan sends no snapshot event: the stream is open once its headers are.
      if (cfg.openOn === "headers") this.opened();
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
        if (line === "") continue; // the CRLF closing the previous chunk
        this.left = parseInt(line, 16);
        if (this.left === 0) return this.fail("stream ended");
        continue;
      }
      const take = Math.min(this.left, s.length - i);
      this.body(take === s.length ? s : s.slice(i, i + take));
      i += take;
      this.left -= take;
      if (this.left === 0) this.left = -1;
    }
  }

  opened(): void {
    if (this.state !== "opening") return;
    this.state = "live";
    this.onOpen?.(true);
    // A slow client stops reading once it is in: the kernel buffers fill and the server sees
    // backpressure, as with a phone on a bad network.
    if (this.slow && !verifying) this.socket?.pause();
  }

  body(s: string): void {
    // Bytes as they came, compressed or not.
    totals.bytes += s.length;
    if (this.inflater !== null) {
      s = this.inflater.inflate(Buffer.from(s, "latin1"));
      totals.plainBytes = (totals.plainBytes ?? 0) + s.length;
      if (s.length === 0) return;
    }
    this.text = this.text.length === 0 ? s : this.text + s;
    const text = this.text;
    let start = 0;
    for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n", start)) {
      this.event(text, start, end);
      start = end + 2;
    }
    if (start > 0) this.text = start === text.length ? "" : text.slice(start);
  }

  event(text: string, start: number, end: number): void {
    if (text.charCodeAt(start) === 58 /* ':' */) return void totals.heartbeats++;
    const data = text.indexOf("data:", start);
    if (data < 0 || data > end) return; // the retry: field
    // The line before `data:` says which event this is. (Not an indexOf: one that finds nothing
    // scans the rest of a read full of events, per event.)
    if (text.startsWith("event: snapshot\n", data - 16)) {
      totals.snapshots++;
      if (this.seen !== null) this.record(text, data, end);
      if (!this.slow) this.visible(text, data, end, Date.now());
      return this.opened();
    }
    totals.events++;
    if (this.seen !== null) this.record(text, data, end);
    if (this.slow) return;
    const now = Date.now();
    this.visible(text, data, end, now);
    // The pattern starts with `t`, not `"`: V8's indexOf looks for the first character and then
    // compares, and JSON is full of `"` (`"ts":` cost 2.9 µs per 8-quote event here, `ts":` 1.1).
    for (let p = text.indexOf('ts":', data); p >= 0 && p < end; p = text.indexOf('ts":', p + 4)) {
      if (text.charCodeAt(p - 1) !== 34 /* '"' */) continue; // a field that only ends in ts
      let ts = 0;
      for (let k = p + 4, c = text.charCodeAt(k); c >= 48 && c <= 57; c = text.charCodeAt(++k)) ts = ts * 10 + (c - 48);
      totals.quotes++;
      latency.record(now - ts);
    }
  }

  /** Visibility lag: every seq of a symbol up to the one in this event is now held. */
  visible(text: string, from: number, end: number, now: number): void {
    const held = (this.held ??= new Int32Array(cfg.universe));
    let p = text.indexOf('"sym":"BN', from);
    while (p >= 0 && p < end) {
      totals.delivered++;
      let sym = 0;
      for (let k = p + 9, c = text.charCodeAt(k); c >= 48 && c <= 57; c = text.charCodeAt(++k)) sym = sym * 10 + (c - 48);
      const next = text.indexOf('"sym":"BN', p + 9);
      const bound = next < 0 || next > end ? end : next;
      const s = text.indexOf('"seq":', p);
      p = next;
      if (s < 0 || s > bound || sym >= held.length) continue;
      let seq = 0;
      for (let k = s + 6, c = text.charCodeAt(k); c >= 48 && c <= 57; c = text.charCodeAt(++k)) seq = seq * 10 + (c - 48);
      for (let k = held[sym]! + 1; k <= seq; k++) {
        const t = sentTime(sym, k);
        if (t > 0) visibility.record(now - t);
        else waitFor(sym, k, now);
      }
      if (seq > held[sym]!) held[sym] = seq;
    }
  }

  /** Verify mode: remember the newest seq of every symbol in this event. */
  record(text: string, from: number, end: number): void {
    for (let p = text.indexOf('"sym":"', from); p >= 0 && p < end; p = text.indexOf('"sym":"', p + 7)) {
      const q = text.indexOf('"', p + 7);
      const sym = text.slice(p + 7, q);
      const s = text.indexOf('"seq":', q);
      let seq = 0;
      for (let k = s + 6, c = text.charCodeAt(k); c >= 48 && c <= 57; c = text.charCodeAt(++k)) seq = seq * 10 + (c - 48);
      if (seq > (this.seen!.get(sym) ?? -1)) this.seen!.set(sym, seq);
    }
  }

  fail(why: string): void {
    if (this.state === "opening") this.onOpen?.(false, why);
    else if (this.state === "live") totals.dropped++;
    this.state = "done";
    this.socket?.destroy();
  }

  open(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fail("not open within timeout"), cfg.openTimeoutMs);
      this.onOpen = (ok, why) => {
        clearTimeout(timer);
        this.onOpen = null;
        resolve(ok ? undefined : why);
      };
      const localAddress = `127.0.0.${1 + ((cfg.firstIndex + this.index) % cfg.sourceAddresses)}`;
      const socket: Socket = connect({
        host: "127.0.0.1",
        port: cfg.port,
        localAddress,
        noDelay: true,
        // Every read lands in one buffer that the parser is done with when the callback returns:
        // no Buffer per read and no stream machinery ('data' events) in between.
        onread: {
          buffer: READ_BUFFER,
          // Reads of a socket this connection already replaced (storm, churn) are ignored.
          callback: (n: number, buf: Uint8Array) => {
            if (this.socket === socket) this.data(buf as Buffer, n);
            return true;
          },
        },
      });
      this.socket = socket;
      const encoding = cfg.acceptGzip === true ? "Accept-Encoding: gzip\r\n" : "";
      socket.on("connect", () => socket.write(`GET ${cfg.paths[this.index]} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${encoding}${cfg.headers ?? ""}\r\n`));
      socket.on("error", (err) => this.socket === socket && this.fail(err.message));
      socket.on("close", () => this.socket === socket && this.fail("closed"));
    });
  }

  reset(): void {
    this.state = "done";
    this.socket?.destroy();
    this.socket = null;
    this.state = "opening";
    this.head = "";
    this.inBody = false;
    this.left = -1;
    this.sizeLine = "";
    this.text = "";
    this.inflater?.close();
    this.inflater = null;
  }
}

/** Open (or reopen) the given connections, `concurrency` at a time. */
async function openMany(indexes: number[], concurrency: number): Promise<{ opened: number; failed: number; firstError?: string; seconds: number }> {
  const t0 = performance.now();
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < indexes.length) {
      const c = conns[indexes[next++]!]!;
      c.reset();
      const err = await c.open();
      if (err === undefined) opened++;
      else {
        failed++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, indexes.length) }, worker));
  return { opened, failed, firstError, seconds: (performance.now() - t0) / 1000 };
}

function reply(r: ClientReply): void {
  process.send!(r);
}

let churnTimer: NodeJS.Timeout | undefined;
let churnStats = { reopened: 0, failed: 0 };

process.on("message", (m: ClientCommand) => {
  void handle(m).catch((err: unknown) => reply({ cmd: "error", message: (err as Error)?.stack ?? String(err) }));
});
process.on("disconnect", () => process.exit(0));

async function handle(m: ClientCommand): Promise<void> {
  switch (m.cmd) {
    case "init": {
      cfg = m;
      for (let i = 0; i < m.paths.length; i++) conns.push(new Conn(i, i < Math.round(m.paths.length * m.slowShare)));
      return reply({ cmd: "ready" });
    }
    case "open": {
      const r = await openMany(conns.map((_, i) => i), m.concurrency);
      return reply({ cmd: "opened", ...r });
    }
    case "storm": {
      // Every connection drops at once and comes back at once (a load balancer restart).
      for (const c of conns) {
        c.state = "done";
        c.socket?.destroy();
      }
      const r = await openMany(conns.map((_, i) => i), m.concurrency);
      return reply({ cmd: "opened", ...r });
    }
    case "mark": {
      latency.reset();
      visibility.reset();
      pending = [];
      pendingHead = [];
      return reply({ cmd: "totals", totals: { ...totals }, hist: [], visibility: [], open: liveCount(), cpuSec: cpuSec() });
    }
    case "totals":
      return reply({ cmd: "totals", totals: { ...totals }, hist: latency.sparse(), visibility: visibility.sparse(), open: liveCount(), cpuSec: cpuSec() });
    case "pubtimes":
      return addSentTimes(m.log);
    case "churn": {
      // Soak: every second a share of the connections leave and new ones take their place.
      churnStats = { reopened: 0, failed: 0 };
      let busy = false;
      churnTimer = setInterval(() => {
        if (busy) return;
        busy = true;
        const n = Math.max(1, Math.round(conns.length * m.sharePerSecond));
        const idx = Array.from({ length: n }, () => Math.floor(Math.random() * conns.length));
        void openMany([...new Set(idx)], 200).then((r) => {
          churnStats.reopened += r.opened;
          churnStats.failed += r.failed;
          busy = false;
        });
      }, 1000);
      return reply({ cmd: "ok" });
    }
    case "stop-churn": {
      clearInterval(churnTimer);
      return reply({ cmd: "churned", ...churnStats });
    }
    case "verify": {
      verifying = true;
      for (const c of conns) {
        c.seen = new Map();
        if (c.slow) c.socket?.resume();
      }
      return reply({ cmd: "ok" });
    }
    case "check": {
      const finals = new Map(Object.entries(m.finals));
      let current = 0;
      let closed = 0;
      let firstMiss: string | undefined;
      for (const c of conns) {
        if (c.state === "done") closed++;
        const syms = decodeURIComponent(/symbols=([^&]*)/.exec(cfg.paths[c.index]!)![1]!).split(",");
        let ok = c.state === "live";
        for (const s of syms) {
          const want = finals.get(s);
          if (want !== undefined && (c.seen?.get(s) ?? -1) < want) {
            ok = false;
            firstMiss ??= `connection ${cfg.firstIndex + c.index} (${c.state}${c.slow ? ", slow" : ""}): ${s} has seq ${c.seen?.get(s) ?? "none"}, final is ${want}`;
            break;
          }
        }
        if (ok) current++;
      }
      return reply({ cmd: "checked", current, closed, total: conns.length, firstMiss });
    }
    case "close": {
      for (const c of conns) {
        c.state = "done";
        c.socket?.destroy();
      }
      return reply({ cmd: "ok" });
    }
  }
}

function liveCount(): number {
  let n = 0;
  for (const c of conns) if (c.state === "live") n++;
  return n;
}

function cpuSec(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
