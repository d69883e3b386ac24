// Builds the board at `/` into dist/board/: one ES module bundling src/board with @quotecast/client
// (a browser cannot resolve a bare package name, and the page's CSP allows no inline import map),
// and its stylesheet. Run by `npm run build` after the client package is built.
import { cpSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

mkdirSync("dist/board", { recursive: true });
await build({
  entryPoints: ["src/board/board.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: "dist/board/board.js",
  legalComments: "none",
  logLevel: "warning",
});
cpSync("src/board/board.css", "dist/board/board.css");
