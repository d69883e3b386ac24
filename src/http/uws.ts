import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as UWS from "uWebSockets.js";

/**
 * uWebSockets.js, native or not at all. Two builds are installed, because no one build covers the
 * Node versions and C libraries in use:
 * - `@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0` (installed as `uWebSockets.js`): Node
 *   16–20 (ABI 93/108/115), loads on glibc 2.36 (Debian 12). Its `require()` quietly falls back to
 *   a slow pure-JS server when its binary does not load; serving market data on that would look
 *   fine in a demo and fall over under load, so its binary is loaded directly, never its wrapper.
 * - `@btc-vision/uwebsockets.js@20.57.0`: Node 20, 22, 24, 25 (ABI 115/127/137/141), needs
 *   glibc >= 2.38 (Debian 13, Ubuntu 24.04).
 * The first that loads is used, in that order: on Node 20 the build the project is tested with.
 */
export class NativeUwsUnavailableError extends Error {
  override readonly name = "NativeUwsUnavailableError";
}

export interface UwsBuild {
  /** The npm package and version, as logged. */
  readonly name: string;
  /** What require.resolve() finds of the package (resolved, never executed: that would risk the fallback). */
  readonly entry: string;
  /** Where the package keeps its binaries, relative to the directory of `entry`. */
  readonly binaryDir: string;
}

export const UWS_BUILDS: readonly UwsBuild[] = [
  { name: "@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0", entry: "uWebSockets.js", binaryDir: "../binaries" },
  { name: "@btc-vision/uwebsockets.js@20.57.0", entry: "@btc-vision/uwebsockets.js", binaryDir: "." },
];

export interface NativeUws {
  readonly uws: typeof UWS;
  /** The build that loaded (npm package@version). */
  readonly build: string;
  /** Absolute path of the loaded `.node` binary. */
  readonly binary: string;
}

const require = createRequire(import.meta.url);

let loaded: NativeUws | undefined;

/** Load (once per process) the first native build that loads here; throws NativeUwsUnavailableError naming why each did not. */
export function loadNativeUws(builds: readonly UwsBuild[] = UWS_BUILDS): NativeUws {
  if (loaded !== undefined && builds === UWS_BUILDS) return loaded;
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const reasons: string[] = [];
  for (const build of builds) {
    let binary: string;
    try {
      binary = join(dirname(require.resolve(build.entry)), build.binaryDir, file);
    } catch {
      reasons.push(`${build.name}: not installed (run npm ci)`);
      continue;
    }
    if (!existsSync(binary)) {
      reasons.push(`${build.name}: has no binary for ${process.platform}-${process.arch} and Node ABI ${process.versions.modules}`);
      continue;
    }
    try {
      const uws = require(binary) as typeof UWS;
      const result = { uws, build: build.name, binary };
      if (builds === UWS_BUILDS) loaded = result;
      return result;
    } catch (err) {
      reasons.push(`${build.name}: ${firstLine((err as Error).message)}`);
    }
  }
  throw new NativeUwsUnavailableError(
    `no native uWebSockets.js build loads on ${process.platform}-${process.arch} with Node ${process.versions.node} (ABI ${process.versions.modules}), ` +
      `glibc ${glibcVersion() ?? "unknown"}; quotecast does not run on the slow JavaScript fallback.\n` +
      reasons.map((r) => `  - ${r}\n`).join("") +
      advice(),
  );
}

/** What to do, for the common cases: Node 22+ on an older glibc, or a Node the builds do not cover. */
function advice(): string {
  const major = Number(process.versions.node.split(".")[0]);
  const glibc = glibcVersion();
  if (major > 20 && glibc !== undefined && compareVersions(glibc, "2.38") < 0) {
    return (
      `Node ${major} needs the @btc-vision build, which needs glibc 2.38 or newer; this system has ${glibc} (Debian 12 has 2.36). ` +
      "Either run quotecast with Node.js 20 here, or move to a newer distribution (Debian 13, Ubuntu 24.04) or the project's Docker image."
    );
  }
  return "Use Node.js 20, 22, 24 or 25 on linux, darwin or win32 x64 (linux/darwin arm64 too), with glibc 2.38 or newer for Node 22 and later; see docs/running.md.";
}

function firstLine(s: string): string {
  // The @btc-vision wrapper's message is a paragraph; the loader's own error (e.g. GLIBC_2.38 not
  // found) is what says why.
  const lines = s.split("\n").filter((l) => l.trim() !== "");
  return lines.find((l) => /GLIBC|cannot open|invalid ELF|undefined symbol|was compiled against/.test(l)) ?? lines[0] ?? s;
}

/** The C library's version on glibc Linux (from the process report), else undefined (musl, macOS, Windows). */
export function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
