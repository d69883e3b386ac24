import type { HttpResponse, RecognizedString } from "uWebSockets.js";

/**
 * A response to `HEAD`: the handler written for `GET` runs unchanged, and this keeps its body off
 * the wire (RFC 9110 §9.3.2). uWS sends whatever `end(body)` is given even to HEAD, and on a
 * keep-alive connection the stray body is then read as the start of the next response. uWS 20.30
 * also aborts the process on `endWithoutBody(length)`, so the length the GET would have had is
 * written as a header here and the response ends with `endWithoutBody()`, which adds none.
 * Made once per HEAD request, never on the streaming path.
 */
export class HeadResponse {
  readonly #res: HttpResponse;

  constructor(res: HttpResponse) {
    this.#res = res;
  }

  /** The GET handler's view of this response: a uWS HttpResponse whose body goes nowhere. */
  asHttpResponse(): HttpResponse {
    return this as unknown as HttpResponse;
  }

  cork(cb: () => void): this {
    this.#res.cork(cb);
    return this;
  }

  writeStatus(status: RecognizedString): this {
    this.#res.writeStatus(status);
    return this;
  }

  writeHeader(key: RecognizedString, value: RecognizedString): this {
    this.#res.writeHeader(key, value);
    return this;
  }

  end(body?: RecognizedString): this {
    const length = body === undefined ? 0 : byteLength(body);
    this.#res.writeHeader("Content-Length", String(length));
    this.#res.endWithoutBody();
    return this;
  }

  endWithoutBody(): this {
    this.#res.endWithoutBody();
    return this;
  }

  /** A streaming handler must check the method and answer HEAD with `endWithoutBody()`; never a body. */
  write(): boolean {
    throw new Error("a HEAD response has no body: the handler must end it with endWithoutBody()");
  }

  onAborted(handler: () => void): this {
    this.#res.onAborted(handler);
    return this;
  }

  onWritable(handler: (offset: number) => boolean): this {
    this.#res.onWritable(handler);
    return this;
  }

  getRemoteAddressAsText(): ArrayBuffer {
    return this.#res.getRemoteAddressAsText();
  }

  getWriteOffset(): number {
    return this.#res.getWriteOffset();
  }

  close(): this {
    this.#res.close();
    return this;
  }
}

function byteLength(body: RecognizedString): number {
  return typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength;
}
