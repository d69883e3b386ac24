import t from "tap";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "./helpers/nats-server.js";
import { BatchPublisher, PublishClosedError } from "../src/simulator/batch-publisher.js";

t.test("simulator - a batch goes out as messages, each with its subject and exact payload, in order", async (t) => {
  const nats = await startNatsServer({ jetstream: false });
  t.teardown(() => nats.cleanup());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const got: string[] = [];
  const sub = nc.subscribe("quotes.>", { callback: (_e, m) => void got.push(`${m.subject} ${m.string()}`) });
  await nc.flush();
  const pubNc = await connect({ servers: nats.url });
  t.teardown(() => pubNc.close());
  const batch = new BatchPublisher(pubNc);
  const sent: string[] = [];
  for (let i = 0; i < 3000; i++) {
    // A multi-byte character: the frame's length is in bytes, not characters.
    const payload = `{"sym":"BRK.B","seq":${i},"note":"é${"x".repeat(i % 50)}"}`;
    batch.add("quotes.BRK.B", payload);
    sent.push(`quotes.BRK.B ${payload}`);
    if (i % 700 === 699) batch.flush();
  }
  t.equal(batch.pending, 3000 % 700);
  batch.flush();
  t.equal(batch.pending, 0);
  await pubNc.flush();
  const deadline = Date.now() + 5000;
  while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(got, sent);
  sub.unsubscribe();
  await pubNc.close();
  batch.add("quotes.X", "{}");
  t.throws(() => batch.flush(), PublishClosedError, "a closed connection is a typed error");
});
