import t from "tap";
import { readFileSync } from "node:fs";
import { SERVE_DEFAULTS, SERVE_OPTIONS } from "../src/config/serve-config.js";
import { DOC, END, START, renderConfigTable, replaceTable } from "../scripts/docs-config.mjs";

t.test("docs - the configuration table in docs/operations.md is the one the code generates", async (t) => {
  const doc = readFileSync(DOC, "utf8");
  const table = renderConfigTable(SERVE_OPTIONS, SERVE_DEFAULTS) as string;
  t.equal(replaceTable(doc, table), doc, "docs/operations.md is out of date: run `npm run docs:config`");
});

t.test("docs - every serve option has a row, with its flag, variable and default", async (t) => {
  const table = renderConfigTable(SERVE_OPTIONS, SERVE_DEFAULTS) as string;
  for (const spec of Object.values(SERVE_OPTIONS)) {
    t.match(table, `| \`--${spec.flag}\` | \`${spec.env}\` |`, `--${spec.flag}`);
  }
  t.match(table, "| `--port` | `QUOTECAST_PORT` | 8080 | 0–65535 | HTTP port |");
  t.match(table, "| `--workers` | `QUOTECAST_WORKERS` | number of CPUs |", "a machine-dependent default says what it means");
});

t.test("docs - a changed option or default makes the doc disagree", async (t) => {
  const doc = readFileSync(DOC, "utf8");
  const changed = { ...SERVE_DEFAULTS, flushMs: SERVE_DEFAULTS.flushMs + 1 };
  t.not(replaceTable(doc, renderConfigTable(SERVE_OPTIONS, changed)), doc);
  const added = { ...SERVE_OPTIONS, extra: { flag: "extra", env: "QUOTECAST_EXTRA", kind: "int", help: "new" } };
  t.not(replaceTable(doc, renderConfigTable(added, SERVE_DEFAULTS)), doc);
  t.throws(() => replaceTable(doc.replace(START, ""), "x"), /markers/);
  t.throws(() => replaceTable(doc.replace(END, ""), "x"), /markers/);
});
