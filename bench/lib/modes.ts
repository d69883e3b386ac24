// How quotecast is asked to send its updates, for the bandwidth comparison (`--modes`). A mode
// is what a subscriber adds to its request and what the server is started with; adding one
// (gzip, delta + gzip) is one entry here.

export interface BenchMode {
  readonly name: string;
  /** Appended to every subscription's query string (`&delta=1`). */
  readonly query: string;
  /** Extra request header lines, `Name: value\r\n` each. */
  readonly headers: string;
  /** Extra `quotecast serve` flags. */
  readonly serverArgs: readonly string[];
}

const GZIP_HEADER = "Accept-Encoding: gzip\r\n";
const GZIP_SERVER = ["--compression", "gzip"] as const;

/**
 * gzip modes: the server compresses (`--compression gzip`), every subscriber asks for it; the
 * load generator inflates each connection's stream as it arrives and counts the compressed
 * (wire) bytes.
 */
export const MODES: Readonly<Record<string, BenchMode>> = {
  full: { name: "full", query: "", headers: "", serverArgs: [] },
  delta: { name: "delta", query: "&delta=1", headers: "", serverArgs: [] },
  gzip: { name: "gzip", query: "", headers: GZIP_HEADER, serverArgs: GZIP_SERVER },
  "delta-gzip": { name: "delta-gzip", query: "&delta=1", headers: GZIP_HEADER, serverArgs: GZIP_SERVER },
};

/** The four modes the bandwidth scenario compares by default. */
export const BANDWIDTH_MODES = "full,delta,gzip,delta-gzip";

export const DEFAULT_MODE = MODES.full!;

/** `full,delta` → the modes, in that order; an unknown name says which exist. */
export function parseModes(list: string): BenchMode[] {
  return list.split(",").map((name) => {
    const mode = MODES[name.trim()];
    if (mode === undefined) throw new Error(`unknown mode ${name}; choose from ${Object.keys(MODES).join(", ")}`);
    return mode;
  });
}
