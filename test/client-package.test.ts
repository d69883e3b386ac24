import t from "tap";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { startNatsServer } from "./helpers/nats-server.js";
import { TestPublisher } from "./helpers/publisher.js";
import { startQuotecast } from "./helpers/quotecast.js";

// @quotecast/client as a user gets it: its bundle size, its public surface, and its tarball
// installed into an empty folder, type-checked and run in Node 20 against a live server.

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PKG = join(ROOT, "packages/client");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const BUDGET = 10 * 1024;

const PUBLIC_API = ["ConnectionError", "FrameError", "HttpStatusError", "TooManySymbolsError", "createClient", "subscribe"];

t.test("client-package - minified and gzipped it stays within 10 KB", async (t) => {
  const out = await build({ entryPoints: [join(PKG, "dist/index.js")], bundle: true, minify: true, format: "esm", target: "es2022", write: false, logLevel: "silent" });
  const min = out.outputFiles[0]!.contents;
  const gz = gzipSync(min, { level: 9 }).length;
  t.ok(gz <= BUDGET, `${gz} bytes minified+gzipped (${min.length} minified), budget ${BUDGET}`);
  t.comment(`bundle: ${min.length} B minified, ${gz} B minified+gzipped (esbuild --bundle --minify, gzip -9)`);
  // Tree-shaking works (sideEffects: false, no top-level effects): the low-level subscribe() alone is smaller.
  const only = await build({ stdin: { contents: 'export { subscribe } from "@quotecast/client";', resolveDir: ROOT }, bundle: true, minify: true, format: "esm", write: false, logLevel: "silent" });
  t.ok(only.outputFiles[0]!.contents.length < min.length * 0.8, `subscribe() alone: ${only.outputFiles[0]!.contents.length} B minified`);
});

t.test("client-package - exports the public API only; internals cannot be imported", async (t) => {
  const mod = await import("@quotecast/client");
  t.same(Object.keys(mod).sort(), PUBLIC_API, "runtime exports");
  const internal = await import("@quotecast/client/dist/sse-parser.js" as string).then(
    () => "imported",
    (err: Error & { code?: string }) => `${err.code ?? ""} ${err.message}`,
  );
  t.match(internal, /ERR_PACKAGE_PATH_NOT_EXPORTED/, "the SSE parser is internal");
  const pkg = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")) as Record<string, unknown>;
  t.equal(pkg.type, "module");
  t.equal(pkg.sideEffects, false);
  t.notOk(pkg.dependencies, "no runtime dependencies");
  t.match(pkg.version, /^\d+\.\d+\.\d+/, "a version of its own");
});

t.test("client-package - npm pack, installed into an empty folder: no server dependency, a consumer type-checks and runs in Node 20 against a live server", { timeout: 120_000 }, async (t) => {
  // The live server starts while the package is packed, installed and type-checked: nothing of
  // either depends on the other, and the consumer runs only once both are done.
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const pub = await TestPublisher.connect(nats.url);
  t.teardown(() => pub.close());
  const starting = startQuotecast({ nats: nats.url });
  t.teardown(async () => (await starting.catch(() => undefined))?.stop());
  const dir = mkdtempSync(join(tmpdir(), "qc-client-pack-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = promisify(execFile);
  const packed = JSON.parse((await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: PKG, encoding: "utf8" })).stdout) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path).sort();
  t.ok(files.includes("dist/index.js") && files.includes("dist/index.d.ts"), "ships the ES modules with their types");
  t.notOk(files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no TypeScript sources");
  const app = join(dir, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // Offline: the package has no dependencies to fetch.
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", join(dir, packed[0]!.filename)], { cwd: app, encoding: "utf8" });
  const installed = readdirSync(join(app, "node_modules")).filter((n) => !n.startsWith("."));
  t.same(installed, ["@quotecast"], "nothing but the package itself: no uWebSockets.js, NATS, pino, prom-client or jose");
  t.same(readdirSync(join(app, "node_modules/@quotecast")), ["client"]);

  writeFileSync(
    join(app, "consumer.ts"),
    `import { createClient, HttpStatusError, type Quote, type QuoteSnapshot } from "@quotecast/client";
const [base, symbol] = process.argv.slice(2) as [string, string];
const client = createClient(base, { onError: (e) => { if (e instanceof HttpStatusError) console.error(e.status, e.message); } });
const sub = client.subscribe([symbol]);
const timer = setTimeout(() => { console.log("timeout"); process.exit(1); }, 10_000);
sub.subscribe((s: QuoteSnapshot) => {
  const q: Quote | undefined = s.quotes[symbol];
  if (s.status !== "live" || q === undefined) return;
  console.log(JSON.stringify({ role: client.role, quote: q }));
  clearTimeout(timer);
  client.close();
});
declare const process: { argv: string[]; exit(code: number): never };
`,
  );
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, lib: ["ES2022", "DOM"], types: [], outDir: "out" }, files: ["consumer.ts"] }));
  const bad = join(app, "bad.ts");
  writeFileSync(bad, `import { createClient } from "@quotecast/client";\ncreateClient("http://x").subscribe("AAPL");\n`);
  // The two type checks at once: bad.ts is not in tsconfig.json's files, and a file named on the
  // command line makes tsc ignore tsconfig.json.
  await Promise.all([
    run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: app, encoding: "utf8" }).then(() => t.pass("the consumer type-checks against the installed declarations")),
    t.rejects(run(process.execPath, [TSC, "--noEmit", "--strict", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--lib", "ES2022,DOM", "--types", "", bad], { cwd: app }), "a wrong call fails the type check (the types are real)"),
  ]);

  const qc = await starting;
  const q = pub.quote("PKG");
  await pub.flush();
  let out = "";
  try {
    out = execFileSync(process.execPath, [join(app, "out/consumer.js"), qc.base, "PKG"], { cwd: app, encoding: "utf8", timeout: 15_000, stdio: "pipe" });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    t.fail(`the consumer failed: ${e.stdout} ${e.stderr}`);
  }
  t.same(JSON.parse(out), { role: "page", quote: q }, "the installed package, run in Node 20, shows the live quote");
});
