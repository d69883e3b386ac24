import t from "tap";
import { loadNativeUws } from "../src/http/uws.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { startQuotecast } from "./helpers/quotecast.js";

t.test("uws - the native binary is what serves, not the JavaScript fallback", async (t) => {
  const { uws, binary } = loadNativeUws();
  t.match(binary, /uws_linux_x64_\d+\.node$|uws_\w+_\w+_\d+\.node$/, "a compiled .node addon was loaded");
  t.match(Function.prototype.toString.call(uws.App), /\[native code\]/, "App is a C++ binding");
});

t.test("uws - serve refuses to start on the slow fallback", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  let error: Error | undefined;
  try {
    await startQuotecast({ nats: nats.url, env: { UWS_USE_FALLBACK: "1" }, timeoutMs: 5000 });
  } catch (err) {
    error = err as Error;
  }
  t.ok(error, "the server never became ready");
  t.match(error?.message, /native uWebSockets\.js binary did not load/, "and said why");
});

t.test("uws - the server logs which native binary it loaded", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url });
  t.teardown(() => qc.stop());
  t.match(qc.output(), /"uws":"[^"]+uws_[a-z0-9]+_[a-z0-9]+_\d+\.node"/);
});
