import { connect, type NatsConnection } from "@nats-io/transport-node";

/** Publishes quotes the way a feed does: core NATS, one JSON object per message on quotes.<SYM>. */
export class TestPublisher {
  readonly #seq = new Map<string, number>();
  private constructor(readonly nc: NatsConnection) {}

  static async connect(url: string): Promise<TestPublisher> {
    return new TestPublisher(await connect({ servers: url, name: "test-publisher" }));
  }

  /** Publish one valid quote for `sym` with the next seq; returns the quote object. */
  quote(sym: string, extra: Record<string, unknown> = {}): { sym: string; ts: number; seq: number } & Record<string, unknown> {
    const seq = (this.#seq.get(sym) ?? 0) + 1;
    this.#seq.set(sym, seq);
    const q = { sym, ts: Date.now(), seq, bid: 100 + seq / 100, ask: 100.02 + seq / 100, ...extra };
    this.nc.publish(`quotes.${sym}`, JSON.stringify(q));
    return q;
  }

  raw(subject: string, payload: string | Uint8Array): void {
    this.nc.publish(subject, payload);
  }

  /** Round trip to the server: everything published so far has reached it. */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  close(): Promise<void> {
    return this.nc.drain();
  }
}
