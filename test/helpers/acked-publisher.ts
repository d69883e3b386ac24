import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { Quote } from "./sse-client.js";

/**
 * Publishes quotes through JetStream and waits for the stream's acknowledgement, so that "the latest
 * published value" of a symbol is known for certain even while NATS nodes fail: a quote counts once
 * the stream stored it. A quote that was not acknowledged (no stream leader during an election, a
 * node gone) is sent again, unchanged, before the symbol gets a newer one; a copy the stream did
 * store anyway is then superseded by an identical one.
 */
export class AckedPublisher {
  /** Latest acknowledged quote of each symbol. */
  readonly latest = new Map<string, Quote>();
  /** Date.now() of every acknowledgement. */
  readonly ackedAt: number[] = [];
  readonly #pending = new Map<string, Quote>();
  readonly #seq = new Map<string, number>();
  #failures = 0;
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
  ) {}

  /** `servers` in order of preference (no shuffling), so a test knows which node it rides on. */
  static async connect(servers: readonly string[]): Promise<AckedPublisher> {
    const nc = await connect({ servers: [...servers], name: "test-acked-publisher", noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    return new AckedPublisher(nc, jetstream(nc, { timeout: 2_000 }));
  }

  /** Publishes that were not acknowledged (and were retried). */
  get failures(): number {
    return this.#failures;
  }

  /** One quote for each of `symbols` (the unacknowledged one again, if any), all acknowledged or not together. */
  async round(symbols: readonly string[]): Promise<void> {
    await Promise.all(
      symbols.map(async (sym) => {
        let q = this.#pending.get(sym);
        if (q === undefined) {
          const seq = (this.#seq.get(sym) ?? 0) + 1;
          this.#seq.set(sym, seq);
          q = { sym, ts: Date.now(), seq, bid: 100 + seq / 100, ask: 100.02 + seq / 100 };
          this.#pending.set(sym, q);
        }
        try {
          await this.js.publish(`quotes.${sym}`, JSON.stringify(q));
          this.#pending.delete(sym);
          this.latest.set(sym, q);
          this.ackedAt.push(Date.now());
        } catch {
          this.#failures++;
        }
      }),
    );
  }

  /** Send whatever is still unacknowledged until the stream takes it: `latest` is then final. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await this.round([...this.#pending.keys()]);
  }

  /** Publish until `stop()` is called: `perRound` symbols every `everyMs`, cycling through `symbols`. */
  run(symbols: readonly string[], perRound: number, everyMs: number): { stop(): Promise<void> } {
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i += perRound) {
        const batch = Array.from({ length: perRound }, (_, k) => symbols[(i + k) % symbols.length]!);
        await Promise.all([this.round(batch), new Promise((r) => setTimeout(r, everyMs))]);
      }
      await this.settle();
    })();
    return {
      async stop() {
        running = false;
        await loop;
      },
    };
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}
