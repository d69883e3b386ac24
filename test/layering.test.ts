import t from "tap";
import { readFileSync } from "node:fs";
import { ARCHITECTURE_DOC, crossEdges, importsOf, LAYERS, mermaidOf, replaceGraph, violation } from "../scripts/import-graph.mjs";

/**
 * Imports of src/ that run against the allowed direction today, file by file, each with the
 * reason it is there. docs/architecture.md names the move that removes each. Do not add to this
 * list: a new edge against the direction fails the test, as it should. When a move removes one,
 * the test fails until its line here is deleted too, so the list stays true.
 */
const KNOWN: Record<string, string> = {};

t.test("layering - no import in src/ runs against the allowed direction, beyond the known ones", async (t) => {
  const against = new Map<string, string>();
  for (const e of crossEdges()) {
    const why = violation(e.from, e.to);
    if (why !== undefined) against.set(`${e.fromFile} -> ${e.toFile}`, why);
  }
  const unexpected = [...against].filter(([edge]) => !(edge in KNOWN)).map(([edge, why]) => `${edge}: ${why}`);
  t.same(unexpected, [], "imports against the direction (LAYERS in scripts/import-graph.mjs; see docs/architecture.md)");
  const gone = Object.keys(KNOWN).filter((edge) => !against.has(edge));
  t.same(gone, [], "known exceptions that no longer exist: delete them from KNOWN in this test");
});

t.test("layering - every folder and root file of src/ has a layer", async (t) => {
  const nodes = new Set(crossEdges().flatMap((e) => [e.from, e.to]));
  const placed = new Set((LAYERS as string[][]).flat());
  t.same([...nodes].filter((n) => !placed.has(n)), [], "add new folders to LAYERS in scripts/import-graph.mjs");
});

t.test("layering - the rule: down only, never sideways, and the server never loads the simulator or browser code", async (t) => {
  t.equal(violation("cli.ts", "cluster"), undefined);
  t.equal(violation("cluster", "wiring"), undefined);
  t.equal(violation("wiring", "http"), undefined);
  t.equal(violation("cluster", "http"), undefined);
  t.match(violation("wiring", "cluster"), /imports go down only/, "the wiring never reaches back into supervision");
  t.match(violation("http", "wiring"), /imports go down only/);
  t.equal(violation("http", "fanout"), undefined);
  t.equal(violation("fanout", "ingest"), undefined);
  t.equal(violation("ingest", "log"), undefined);
  t.equal(violation("board", "client"), undefined);
  t.match(violation("ingest", "http"), /imports go down only/);
  t.match(violation("auth", "simulator"), /must not load simulator/);
  t.match(violation("http", "client"), /must not load client/);
  t.match(violation("fanout", "fanout2"), /in no layer/);
});

t.test("layering - imports are read from import, export and import(), not from comments or strings", async (t) => {
  const source = [
    'import { a } from "./a.js";',
    'import type { B } from "../b/b.js";',
    'export { c } from "./c.js";',
    'import "./side-effect.js";',
    'const d = await import("./d.js");',
    'import { parseArgs } from "node:util";',
    '// import { e } from "./e.js";',
    '/* import { f } from "./f.js"; */',
    'const url = "http://x/from \\"./g.js\\"";',
  ].join("\n");
  t.same(importsOf(source), ["./a.js", "../b/b.js", "./c.js", "./side-effect.js", "./d.js"]);
});

t.test("layering - the folder graph in docs/architecture.md is the one the imports draw", async (t) => {
  const doc = readFileSync(ARCHITECTURE_DOC, "utf8");
  t.equal(replaceGraph(doc, mermaidOf()), doc, "docs/architecture.md's graph is out of date: run `npm run docs:graph`");
});
