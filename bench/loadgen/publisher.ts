// The bench's feed: publishes quotes at an exact rate, to NATS (`quotes.<SYM>`, what
// quotecast and the naive server read) or to nchan's publisher endpoint (`POST /pub/<SYM>`).
// Symbols take turns (round-robin), so each gets rate/universe quotes per second and every
// one changes often; seq counts per symbol, and the last seq of each is reported on stop as
// the final value every subscriber must end up holding.
//
// What the quotes hold (--mix): `market` (default), the simulator's top-of-book mix (one side
// of the book moves, or a trade prints; ~110 bytes), or `every-field`, the bench's quote before
// the mix was modelled (~130 bytes, every field moves). It reports each field's change rate
// (FieldChangeRates) on stop, and the time it sent each seq, in batches, as it goes: the load
// generator turns those into visibility lag.
//
//   node publisher.js --to nats --nats nats://127.0.0.1:PORT --rate 2000 --universe 200
//   node publisher.js --to nchan --nchan http://127.0.0.1:PORT --rate 2000 --universe 200

import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import type { PublisherCommand, PublisherReply } from "./protocol.js";
import { FieldChangeRates } from "../../src/simulator/field-change-rates.js";
import { instrumentsFor } from "../../src/simulator/instrument.js";
import { PriceModel, createQuoteTick, type FieldMix } from "../../src/simulator/price-model.js";
import { formatQuote, payloadPrefix } from "../../src/simulator/quote-payload.js";
import { SeededRandom } from "../../src/simulator/rng.js";
import { quote } from "./quote.js";
import { benchSymbols } from "./symbols.js";
import { BatchPublisher } from "../../src/simulator/batch-publisher.js";

const { values } = parseArgs({
  options: {
    to: { type: "string", default: "nats" },
    nats: { type: "string" },
    nchan: { type: "string" },
    rate: { type: "string", default: "2000" },
    universe: { type: "string", default: "200" },
    mix: { type: "string", default: "market" },
  },
});
const mix = values.mix as FieldMix;
if (mix !== "market" && mix !== "every-field") throw new Error(`--mix must be market or every-field, got ${values.mix}`);
const rate = Number(values.rate);
const symbols = benchSymbols(Number(values.universe));
const seqs = new Array<number>(symbols.length).fill(0);
const send = (r: PublisherReply) => process.send!(r);
// The market mix's prices: the simulator's model, one slot per bench symbol, seeded alike in every run.
const model = new PriceModel(instrumentsFor(symbols), new SeededRandom(11), "market");
const tick = createQuoteTick();
const prefixes = symbols.map(payloadPrefix);
const changeRates = new FieldChangeRates();
/** Every 10th quote feeds the change rates: a sample at a tenth of the parsing. */
const RATE_SAMPLE = 10;
/** (symbol index, seq, Date.now() sent) triples not yet reported. */
let sentLog: number[] = [];
const SENT_REPORT_MS = 100;
/**
 * Quotes go out in a batch every 5 ms, each stamped with its batch's time: a tenth of the
 * shortest flush window, so the ages in a frame spread as with a steady feed. Every 1 ms
 * (2 quotes per wakeup at 2k/s), this process and the NATS server it wakes took 8% and 12.7% of
 * a core on the 2 cores the server under test shares with them; every 5 ms, 5% and 7-7.7%.
 */
const BATCH_MS = 5;

async function main(): Promise<void> {
  let publish: (sym: string, body: string) => void;
  let flush: () => Promise<void>;
  let endBatch = (): void => undefined;
  let behind = 0;
  if (values.to === "nats") {
    const nc = await connect({ servers: values.nats!, noEcho: true });
    // One write per batch (src/simulator/batch-publisher.ts): nc.publish per quote made this
    // process the limit above ~100k/s on the shared cores.
    const batch = new BatchPublisher(nc);
    const subjects = new Map(symbols.map((s) => [s, `quotes.${s}`]));
    publish = (sym, body) => batch.add(subjects.get(sym)!, body);
    endBatch = () => batch.flush();
    flush = () => nc.flush().then(() => nc.drain());
  } else {
    // nchan takes one HTTP POST per message: keep-alive sockets, a bounded number in flight.
    const agent = new Agent({ keepAlive: true, maxSockets: 256 });
    const url = new URL(values.nchan!);
    let inFlight = 0;
    let idle: (() => void) | null = null;
    publish = (sym, body) => {
      inFlight++;
      const req = request({ agent, host: url.hostname, port: url.port, method: "POST", path: `/pub/${sym}`, headers: { "Content-Type": "application/json", "Content-Length": body.length } }, (res) => {
        res.resume();
        res.on("end", () => {
          if (--inFlight === 0) idle?.();
        });
      });
      req.on("error", () => {
        behind++;
        if (--inFlight === 0) idle?.();
      });
      req.end(body);
    };
    // A server that cannot take the rate leaves POSTs queued: wait a bounded time for them;
    // what is still queued then counts as not published (`behind`).
    flush = () =>
      inFlight === 0
        ? Promise.resolve()
        : new Promise<void>((r) => {
            idle = r;
            setTimeout(() => {
              behind += inFlight;
              agent.destroy();
              r();
            }, 10_000).unref();
          });
  }

  let published = 0;
  let next = 0;
  const t0 = performance.now();
  // Every BATCH_MS, publish what the clock says is due: the rate is exact over any second,
  // whatever the timer's jitter.
  const timer = setInterval(() => {
    const due = Math.floor((rate * (performance.now() - t0)) / 1000) - published;
    const now = Date.now();
    for (let k = 0; k < due; k++) {
      const i = next;
      next = (next + 1) % symbols.length;
      const seq = ++seqs[i]!;
      let body: string;
      if (mix === "market") {
        model.step(i, published / rate, tick);
        body = formatQuote(prefixes[i]!, now, tick);
      } else body = quote(symbols[i]!, seq, now);
      publish(symbols[i]!, body);
      // Round-robin: every 10th quote is every quote of every 10th symbol.
      if ((published + k) % RATE_SAMPLE === 0) changeRates.observe(body);
      sentLog.push(i, seq, now);
    }
    endBatch();
    published += due;
  }, BATCH_MS);
  const reporter = setInterval(() => {
    if (sentLog.length === 0) return;
    send({ cmd: "sent", log: sentLog });
    sentLog = [];
  }, SENT_REPORT_MS);

  // A runner that hears nothing for a while asks again; a second drain of the NATS connection
  // would reject (DrainingConnectionError) and crash the publisher before it reports.
  let stopping = false;
  process.on("message", (m: PublisherCommand) => {
    if (m.cmd !== "stop" || stopping) return;
    stopping = true;
    clearInterval(timer);
    clearInterval(reporter);
    if (sentLog.length > 0) send({ cmd: "sent", log: sentLog });
    sentLog = [];
    const seconds = (performance.now() - t0) / 1000;
    void flush().then(() => {
      const finals: Record<string, number> = {};
      symbols.forEach((s, i) => (finals[s] = seqs[i]!));
      send({ cmd: "stopped", published, seconds, finals, behind, fieldRates: changeRates.rates() });
    });
  });
  send({ cmd: "ready" });
}

process.on("disconnect", () => process.exit(0));
main().catch((err: unknown) => send({ cmd: "error", message: (err as Error)?.stack ?? String(err) }));
