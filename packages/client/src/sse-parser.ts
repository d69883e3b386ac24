/**
 * An incremental Server-Sent Events parser (the WHATWG "event stream interpretation"), pure:
 * text in, callbacks out. Chunks may split lines anywhere, including between CR and LF.
 */

export interface SseEvent {
  /** `message` when the event had no `event:` field. */
  readonly event: string;
  readonly data: string;
  /** The `id:` field of this event, if it had one. */
  readonly id: string | undefined;
}

export interface SseSink {
  event(e: SseEvent): void;
  /** A valid `retry:` field (a non-negative integer, milliseconds). */
  retry(ms: number): void;
  /** A `:` comment line: the server's heartbeat. */
  comment(): void;
}

export class SseParser {
  #buf = "";
  #event = "";
  #data: string[] = [];
  #id: string | undefined = undefined;
  #sawCr = false;
  #first = true;

  constructor(private readonly sink: SseSink) {}

  /** Feed decoded text; complete lines are interpreted at once, a partial line waits for the next chunk. */
  push(text: string): void {
    if (this.#first && text.length > 0) {
      this.#first = false;
      // A UTF-8 byte order mark at the very start of the stream is not part of the first field.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR ended the previous chunk: an LF right after it belongs to the same line break.
    if (this.#sawCr && text.charCodeAt(0) === 10) text = text.slice(1);
    this.#sawCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(this.#buf + text.slice(start, i));
      this.#buf = "";
      if (c === 13) {
        if (i + 1 === text.length) this.#sawCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#buf += text.slice(start);
  }

  /** Start over for a new connection: a partial event from the old one is discarded, as the spec says. */
  reset(): void {
    this.#buf = "";
    this.#event = "";
    this.#data = [];
    this.#id = undefined;
    this.#sawCr = false;
    this.#first = true;
  }

  #line(line: string): void {
    if (line === "") return this.#dispatch();
    if (line.charCodeAt(0) === 58 /* : */) return this.sink.comment();
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        // An id with a NUL is ignored (spec): it could not be sent back in a header.
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.sink.retry(Number(value));
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  #dispatch(): void {
    const id = this.#id;
    const event = this.#event || "message";
    const data = this.#data;
    this.#event = "";
    this.#data = [];
    this.#id = undefined;
    if (data.length === 0) return;
    this.sink.event({ event, data: data.join("\n"), id });
  }
}
