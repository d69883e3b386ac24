#!/usr/bin/env node
// The folder graph of src/, drawn from the imports (static `import`/`export ... from`, and
// `import("...")` with a literal path). A folder of src/ is one node; a file at the root of src/
// (cli.ts, logger.ts) is a node of its own.
//
//   node scripts/import-graph.mjs           edges "from -> to  (files: a.ts -> b.ts, ...)"
//   node scripts/import-graph.mjs --mermaid the graph as a Mermaid flowchart (docs/architecture.md)
//
// test/layering.test.ts checks these edges against the allowed direction.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const SRC = fileURLToPath(new URL("../src", import.meta.url));

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|mts|tsx)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) yield path;
  }
}

// `from "x"` after import/export, bare `import "x"`, and `import("x")`; comments are stripped first.
const SPECIFIERS = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;

/** The relative module specifiers of one source text. */
export function importsOf(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  return [...code.matchAll(SPECIFIERS)].map((m) => m[1]).filter((s) => s.startsWith("."));
}

/** The node a file of src/ belongs to: its top folder, or the file's name at the root. */
export function nodeOf(fileInSrc) {
  return fileInSrc.split(sep)[0];
}

/** Every file-to-file import of src/ that crosses nodes: `{ from, to, fromFile, toFile }`. */
export function crossEdges(src = SRC) {
  const out = [];
  for (const file of sourceFiles(src)) {
    const fromFile = relative(src, file);
    for (const spec of importsOf(readFileSync(file, "utf8"))) {
      const target = normalize(join(dirname(file), spec)).replace(/\.js$/, ".ts");
      const toFile = relative(src, target);
      if (toFile.startsWith("..")) continue;
      const from = nodeOf(fromFile);
      const to = nodeOf(toFile);
      if (from !== to) out.push({ from, to, fromFile, toFile });
    }
  }
  return out.sort((a, b) => `${a.from} ${a.to} ${a.fromFile}`.localeCompare(`${b.from} ${b.to} ${b.fromFile}`));
}

/** Node-to-node edges with the file imports behind each. */
export function folderGraph(src = SRC) {
  const graph = new Map();
  for (const e of crossEdges(src)) {
    const key = `${e.from} -> ${e.to}`;
    if (!graph.has(key)) graph.set(key, []);
    const pair = `${e.fromFile} -> ${e.toFile}`;
    if (!graph.get(key).includes(pair)) graph.get(key).push(pair);
  }
  return graph;
}

/**
 * The allowed direction, top to bottom: a node may import only nodes of a LOWER layer (never its
 * own layer, never a higher one). The entry point at the top, the wiring of a worker below it,
 * then HTTP, then metrics, auth and the simulator, the fan-out core, ingest, and pure leaves.
 * test/layering.test.ts holds the code to it, with its known exceptions listed there.
 */
export const LAYERS = [
  ["cli.ts"],
  ["cluster"],
  ["http"],
  ["metrics"],
  ["auth", "simulator"],
  ["stream"],
  ["feed"],
  ["config"],
  ["board"],
  ["client", "log"],
];

/** Nodes the server's folders never import: the feed simulator (a separate command) and the browser code. */
export const SERVER = ["cluster", "http", "metrics", "auth", "stream", "feed", "config"];
export const NOT_FOR_SERVER = ["simulator", "board", "client"];

export function layerOf(node) {
  const i = LAYERS.findIndex((layer) => layer.includes(node));
  return i === -1 ? undefined : LAYERS.length - i;
}

/** Why an edge runs against the allowed direction, or undefined when it does not. */
export function violation(from, to) {
  const a = layerOf(from);
  const b = layerOf(to);
  if (a === undefined) return `${from} is in no layer of LAYERS (scripts/import-graph.mjs)`;
  if (b === undefined) return `${to} is in no layer of LAYERS (scripts/import-graph.mjs)`;
  if (SERVER.includes(from) && NOT_FOR_SERVER.includes(to)) return `the server (${from}) must not load ${to}`;
  if (a <= b) return `${from} (layer ${a}) imports ${to} (layer ${b}): imports go down only`;
  return undefined;
}

const label = (node) => node.replace(/\.ts$/, "");
const id = (node) => label(node).replace(/\W/g, "_");

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const graph = folderGraph();
  if (process.argv.includes("--mermaid")) {
    // Nodes declared layer by layer (top first), so the drawing keeps the allowed order;
    // an edge against it is dotted and labelled.
    console.log("flowchart TD");
    for (const layer of LAYERS) for (const node of layer) console.log(`  ${id(node)}["${label(node)}"]`);
    for (const key of graph.keys()) {
      const [from, to] = key.split(" -> ");
      console.log(violation(from, to) === undefined ? `  ${id(from)} --> ${id(to)}` : `  ${id(from)} -. against .-> ${id(to)}`);
    }
  } else {
    for (const [key, files] of graph) console.log(`${key}  (${files.join(", ")})`);
  }
}
