// The ingest ceiling: a bare NATS subscriber that only counts. It subscribes to one subject
// (what the QUOTES stream republishes, `qc.live.quotes.>`, or core `quotes.>`), counts messages
// and, for one message in `sampleEvery`, reads `ts` out of the raw payload for its age. No JSON
// parsing, no state per symbol: the most one Node process on this machine takes from NATS.
//
//   node counting-subscriber.js --nats nats://127.0.0.1:PORT --subject 'qc.live.quotes.>'

import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { LatencyHistogram } from "./histogram.js";

const { values } = parseArgs({
  options: {
    nats: { type: "string" },
    subject: { type: "string", default: "qc.live.quotes.>" },
    "sample-every": { type: "string", default: "1" },
  },
});

export type CountingCommand = { cmd: "mark" } | { cmd: "totals" } | { cmd: "stop" };
export interface CountingTotals {
  cmd: "totals";
  received: number;
  cpuSec: number;
  hist: [number, number][];
}

const TS = new TextEncoder().encode('"ts":');
const sampleEvery = Math.max(1, Number(values["sample-every"]));

/** `ts` from the raw JSON bytes: digits after the first `"ts":`, without decoding the payload. */
function tsOf(data: Uint8Array): number {
  let at = data.indexOf(TS[0]!);
  while (at !== -1) {
    let j = 1;
    while (j < TS.length && data[at + j] === TS[j]) j++;
    if (j === TS.length) break;
    at = data.indexOf(TS[0]!, at + 1);
  }
  if (at === -1) return NaN;
  let n = 0;
  for (let i = at + TS.length; i < data.length; i++) {
    const c = data[i]!;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

async function main(): Promise<void> {
  const nc = await connect({ servers: values.nats! });
  const hist = new LatencyHistogram();
  let received = 0;
  nc.subscribe(values.subject!, {
    callback: (_err, m) => {
      if (++received % sampleEvery === 0) hist.record(Date.now() - tsOf(m.data));
    },
  });
  await nc.flush();
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  process.on("message", (m: CountingCommand) => {
    if (m.cmd === "mark") hist.reset();
    if (m.cmd === "stop") {
      void nc.close().then(() => process.exit(0));
      return;
    }
    const t: CountingTotals = { cmd: "totals", received, cpuSec: cpu(), hist: hist.sparse() };
    process.send!(t);
  });
  process.send!({ cmd: "ready" });
}

process.on("disconnect", () => process.exit(0));
main().catch((err: unknown) => {
  process.send?.({ cmd: "error", message: (err as Error)?.stack ?? String(err) });
  process.exit(1);
});
