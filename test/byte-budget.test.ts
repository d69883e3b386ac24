import t from "tap";
import { BURST_MS, ByteBudget, WINDOW_MS } from "../src/fanout/byte-budget.js";

t.test("byte budget - 80 kbit/s: a 10 kB burst, refilled at 9 bytes per ms", async (t) => {
  const b = new ByteBudget(80, 0);
  t.equal(b.burst, 10_000);
  t.equal(b.fill, 9);
  t.equal(b.tokens, 10_000);
  t.equal(b.full, true);
  b.spend(10_000);
  b.refill(500);
  t.equal(b.tokens, 4_500);
  t.equal(b.full, false);
  b.refill(400);
  t.equal(b.tokens, 4_500, "time going backwards adds nothing");
  b.refill(5_000);
  t.equal(b.tokens, 10_000, "never above the burst");
});

t.test("byte budget - a chunk above the burst leaves a debt that the fill pays off", async (t) => {
  const b = new ByteBudget(8, 0); // 1,000 bytes of burst, 0.9 bytes per ms
  b.spend(1_450);
  t.equal(b.tokens, -450);
  b.refill(500);
  t.equal(b.tokens, 0);
});

t.test("byte budget - spending whenever it can, any 10 s carries at most 10 s of budget", async (t) => {
  for (const kbps of [1, 8, 64, 500]) {
    const b = new ByteBudget(kbps, 0);
    const chunk = 120;
    const sent: [number, number][] = [];
    for (let now = 0; now <= 60_000; now += 7) {
      b.refill(now);
      while (b.tokens >= chunk) {
        b.spend(chunk);
        sent.push([now, chunk]);
      }
    }
    const limit = (kbps / 8) * WINDOW_MS;
    let worst = 0;
    for (let i = 0, j = 0, sum = 0; i < sent.length; i++) {
      sum += sent[i]![1];
      while (sent[i]![0] - sent[j]![0] >= WINDOW_MS) sum -= sent[j++]![1];
      worst = Math.max(worst, sum);
    }
    t.ok(worst <= limit, `${kbps} kbit/s: worst 10 s ${worst} bytes <= ${limit}`);
    t.ok(worst >= limit * (1 - BURST_MS / WINDOW_MS) - chunk, `${kbps} kbit/s: and uses most of it (${worst})`);
  }
});
