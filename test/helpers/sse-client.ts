import { connect, type Socket } from "node:net";
import { StringDecoder } from "node:string_decoder";
import { createGunzip, type Gunzip } from "node:zlib";
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface ReceivedEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
  /** Date.now() when the bytes arrived. */
  readonly at: number;
}

export interface Quote {
  sym: string;
  seq: number;
  ts: number;
  [k: string]: unknown;
}

/**
 * A raw-socket SSE client: writes the request by hand, decodes chunked transfer encoding,
 * parses events with eventsource-parser, and can stop reading (pause) like a stalled browser.
 */
export class RawSseClient {
  readonly events: ReceivedEvent[] = [];
  readonly comments: number[] = [];
  retries: number[] = [];
  status = 0;
  headers: Record<string, string> = {};
  /** The decoded body as received (after de-chunking, and decompressing when gzip). */
  body = "";
  /** Every read of the body from the socket, as it arrived (before de-chunking): bytes on the wire. */
  readonly wire: { at: number; bytes: number }[] = [];
  /** gzip streams: the body as received after de-chunking, still compressed. */
  readonly gzipped: Buffer[] = [];
  #gunzip: Gunzip | null = null;
  ended = false;
  closed = false;
  readonly socket: Socket;
  #head = "";
  #inBody = false;
  #chunked = Buffer.alloc(0);
  #chunkLeft = 0;
  #needCrlf = false;
  readonly #decoder = new StringDecoder("utf8");
  #waiters: (() => void)[] = [];
  readonly #parser = createParser({
    onEvent: (e: EventSourceMessage) => this.#push(e),
    onComment: () => this.comments.push(Date.now()),
    onRetry: (ms: number) => this.retries.push(ms),
  });

  private constructor(port: number, path: string, headers: Record<string, string>) {
    this.socket = connect({ port, host: "127.0.0.1" });
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n${extra}\r\n`);
    this.socket.on("data", (d: Buffer) => this.#onData(d));
    this.socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    this.socket.on("error", () => undefined);
  }

  static open(port: number, path: string, headers: Record<string, string> = {}): RawSseClient {
    return new RawSseClient(port, path, headers);
  }

  /** Events of this type, data parsed as a JSON array of quotes. */
  quotes(type = "quotes"): { id: string | undefined; at: number; quotes: Quote[] }[] {
    return this.events.filter((e) => e.event === type).map((e) => ({ id: e.id, at: e.at, quotes: JSON.parse(e.data) as Quote[] }));
  }

  snapshot(): Quote[] {
    const s = this.events.find((e) => e.event === "snapshot");
    if (!s) throw new Error("no snapshot received");
    return JSON.parse(s.data) as Quote[];
  }

  lastId(): string | undefined {
    return this.events.at(-1)?.id;
  }

  /** Resolve when `pred` holds (checked on every arrival), or reject after `timeoutMs`. */
  async waitFor(pred: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status ${this.status}, body so far:\n${this.body.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
    this.#gunzip?.destroy();
  }

  #push(e: EventSourceMessage): void {
    this.events.push({ event: e.event ?? "message", id: e.id, data: e.data, at: Date.now() });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #onData(d: Buffer): void {
    if (!this.#inBody) {
      this.#head += d.toString("latin1");
      const end = this.#head.indexOf("\r\n\r\n");
      if (end === -1) return;
      const [statusLine, ...lines] = this.#head.slice(0, end).split("\r\n");
      this.status = Number(statusLine!.split(" ")[1]);
      for (const l of lines) {
        const i = l.indexOf(":");
        this.headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      this.#inBody = true;
      if (this.headers["content-encoding"] === "gzip") {
        // Incremental, as a browser does: each event must come out as soon as its bytes are in.
        const gunzip = (this.#gunzip = createGunzip());
        gunzip.on("data", (b: Buffer) => {
          this.#text(this.#decoder.write(b));
          this.#wake();
        });
        gunzip.on("error", (err) => this.events.push({ event: "gunzip-error", id: undefined, data: String(err), at: Date.now() }));
      }
      const rest = Buffer.from(this.#head.slice(end + 4), "latin1");
      if (rest.length > 0) this.wire.push({ at: Date.now(), bytes: rest.length });
      this.#head = "";
      if (rest.length > 0) this.#onBody(rest);
    } else {
      this.wire.push({ at: Date.now(), bytes: d.length });
      this.#onBody(d);
    }
    this.#wake();
  }

  #onBody(d: Buffer): void {
    if (this.headers["transfer-encoding"] !== "chunked") {
      this.#decoded(d);
      return;
    }
    // uWS writes a chunk's closing CRLF only in front of the next chunk, so chunk data is
    // handed on as it arrives (as curl and browsers do), never held until the chunk is closed.
    this.#chunked = Buffer.concat([this.#chunked, d]);
    for (;;) {
      if (this.#chunkLeft > 0) {
        if (this.#chunked.length === 0) return;
        const take = Math.min(this.#chunkLeft, this.#chunked.length);
        this.#decoded(this.#chunked.subarray(0, take));
        this.#chunked = this.#chunked.subarray(take);
        this.#chunkLeft -= take;
        if (this.#chunkLeft > 0) return;
        this.#needCrlf = true;
      }
      if (this.#needCrlf) {
        if (this.#chunked.length < 2) return;
        if (this.#chunked.subarray(0, 2).toString("latin1") !== "\r\n") throw new Error("chunk not terminated by CRLF: corrupted chunked encoding");
        this.#chunked = this.#chunked.subarray(2);
        this.#needCrlf = false;
      }
      const lineEnd = this.#chunked.indexOf("\r\n");
      if (lineEnd === -1) return;
      const size = parseInt(this.#chunked.subarray(0, lineEnd).toString("latin1"), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk header: ${this.#chunked.subarray(0, 40).toString("latin1")}`);
      this.#chunked = this.#chunked.subarray(lineEnd + 2);
      if (size === 0) {
        this.ended = true;
        return;
      }
      this.#chunkLeft = size;
    }
  }

  /** Body bytes after de-chunking: decompressed first when the stream is gzip. */
  #decoded(b: Buffer): void {
    if (this.#gunzip !== null && !this.#gunzip.destroyed) {
      this.gzipped.push(Buffer.from(b));
      this.#gunzip.write(Buffer.from(b));
    }
    else this.#text(this.#decoder.write(b));
  }

  #text(s: string): void {
    this.body += s;
    this.#parser.feed(s);
  }
}

/** A plain HTTP request (with fetch, not a raw socket): status, headers and body of a response that ends. */
export async function rawRequest(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers });
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => (out[k] = v));
  return { status: res.status, headers: out, body: await res.text() };
}
