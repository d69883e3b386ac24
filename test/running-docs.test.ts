import t from "tap";
import { readFileSync } from "node:fs";
import { FEED_OPTIONS } from "../src/simulator/feed-config.js";
import { SERVE_DEFAULTS, SERVE_OPTIONS } from "../src/config/serve-config.js";

// docs/running.md names flags, variables and defaults: each must be one the code has.

const doc = readFileSync(new URL("../docs/running.md", import.meta.url), "utf8");
const rows = [...doc.matchAll(/^\| `--([a-z0-9-]+)` \| `([A-Z0-9_]+)` \| [^|]+ \| ([^|]+) \|$/gm)].map((m) => ({ flag: m[1]!, env: m[2]!, def: m[3]!.trim() }));

t.test("running-docs - every option in the tables is one the code reads, under the same variable", async (t) => {
  const serve = new Map<string, string>(Object.values(SERVE_OPTIONS).map((o) => [o.flag, o.env]));
  const feed = new Map<string, string>(FEED_OPTIONS.map((o) => [o.flag, o.env]));
  t.ok(rows.length >= 25, `${rows.length} rows`);
  for (const r of rows) t.ok(serve.get(r.flag) === r.env || feed.get(r.flag) === r.env, `--${r.flag} ${r.env}`);
});

t.test("running-docs - the serve defaults shown are the code's", async (t) => {
  const byFlag = new Map<string, unknown>(Object.entries(SERVE_OPTIONS).map(([key, o]) => [o.flag, SERVE_DEFAULTS[key as keyof typeof SERVE_DEFAULTS]]));
  for (const r of rows) {
    if (!byFlag.has(r.flag) || r.env.startsWith("QUOTECAST_FEED_") || r.flag === "workers") continue;
    const def = byFlag.get(r.flag);
    if (typeof def === "number" || typeof def === "string") t.equal(r.def, String(def), `--${r.flag}`);
  }
});

t.test("running-docs - what this page is for is documented", async (t) => {
  for (const flag of ["trust-proxy", "stream-replicas", "metrics-host", "metrics-port", "auth-hs256-secret-file"]) t.ok(rows.some((r) => r.flag === flag), `--${flag} in a table`);
  t.match(doc, /LOG_LEVEL/);
  t.match(doc, /### Exit codes/);
  t.match(doc, /GLIBC_2\.38/);
});
