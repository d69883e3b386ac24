import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Every TypeScript snippet of docs/client.md type-checks against the built @quotecast/client, React's
// and Vue's types, so that the guide cannot rot.

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
// Under the repository, so that imports resolve in its node_modules; test/artifacts/ is not committed.
const DIR = join(ROOT, "test/artifacts/docs-snippets");

function snippets(markdown: string): { lang: "ts" | "tsx"; code: string; line: number }[] {
  const out: { lang: "ts" | "tsx"; code: string; line: number }[] = [];
  const re = /^```(tsx?)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) out.push({ lang: m[1] as "ts" | "tsx", code: m[2]!, line: markdown.slice(0, m.index).split("\n").length });
  return out;
}

function typeCheck(files: Record<string, string>): { ok: boolean; output: string } {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  for (const [name, code] of Object.entries(files)) writeFileSync(join(DIR, name), code);
  const tsconfig = {
    compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM", "DOM.Iterable"], types: [], jsx: "react-jsx", strict: true, noEmit: true, skipLibCheck: true, isolatedModules: true },
    files: Object.keys(files),
  };
  writeFileSync(join(DIR, "tsconfig.json"), JSON.stringify(tsconfig));
  const r = spawnSync(process.execPath, [TSC, "-p", join(DIR, "tsconfig.json")], { encoding: "utf8" });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

t.test("client-docs - every snippet of docs/client.md type-checks (vanilla, React, Vue, Svelte)", async (t) => {
  const found = snippets(readFileSync(join(ROOT, "docs/client.md"), "utf8"));
  t.ok(found.length >= 4, `${found.length} snippets`);
  t.ok(found.some((s) => s.code.includes("useSyncExternalStore")), "a React snippet");
  t.ok(found.some((s) => s.code.includes('from "vue"')), "a Vue snippet");
  const files = Object.fromEntries(found.map((s) => [`snippet-line-${s.line}.${s.lang}`, s.code]));
  const r = typeCheck(files);
  t.ok(r.ok, r.ok ? "tsc found no error" : r.output);
});

t.test("client-docs - the check catches a snippet that misuses the API", async (t) => {
  const r = typeCheck({ "bad.ts": 'import { createClient } from "@quotecast/client";\ncreateClient("https://q.example").subscribe("AAPL");\n' });
  t.notOk(r.ok, "a string where a symbol list is expected fails");
  t.match(r.output, /bad\.ts\(2,/);
});
