import { parseArgs } from "node:util";
import { ConfigError } from "../config/config-error.js";
import { SYMBOL_PATTERN, isSymbol } from "../feed/symbol.js";
import { MAX_SEED } from "./rng.js";
import { DEFAULT_UNIVERSE_SIZE, MAX_UNIVERSE_SIZE } from "./universe.js";

// One ConfigError for every command, so the CLI's single `instanceof` check (print, exit 2)
// covers `feed` as well as `serve`.
export { ConfigError };

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
export const DEFAULT_FEED_RATE = 1000;
/** Highest `--rate`: ten times what the simulator is built to sustain, to leave room, not more. */
export const MAX_FEED_RATE = 1_000_000;

export type FeedUniverse =
  | { readonly kind: "generated"; readonly count: number }
  | { readonly kind: "list"; readonly symbols: readonly string[] };

export interface FeedConfig {
  readonly servers: readonly string[];
  readonly universe: FeedUniverse;
  /** Quotes per second, all symbols together. */
  readonly rate: number;
  /** Seconds to run; null runs until SIGINT or SIGTERM. */
  readonly durationSec: number | null;
  /** null: the run picks a random seed (and logs it, so the run can be reproduced). */
  readonly seed: number | null;
  readonly help: boolean;
}

export const FEED_USAGE = `Usage: quotecast feed [options]

Publishes simulated quotes to NATS on quotes.<SYMBOL>.

Options:
  --nats <urls>          comma-separated NATS URLs (env NATS_URL; default ${DEFAULT_NATS_URL})
  --symbols <n>          simulate n symbols, well-known tickers first (default ${DEFAULT_UNIVERSE_SIZE}, max ${MAX_UNIVERSE_SIZE})
  --symbol-list <A,B,C>  simulate exactly these symbols (case-insensitive)
  --rate <n>             quotes per second, all symbols together (default ${DEFAULT_FEED_RATE})
  --duration <seconds>   stop after this long (default: until SIGINT/SIGTERM)
  --seed <n>             integer 0..${MAX_SEED}: the same seed replays the same prices
  -h, --help             show this help
`;

/**
 * Parse `quotecast feed` arguments (those after the command word). Flags win over the
 * environment. Throws ConfigError on anything it cannot use, never guesses.
 */
export function parseFeedArgs(argv: readonly string[], env: NodeJS.ProcessEnv): FeedConfig {
  // Tolerate being handed the command word too: "feed" can never be a valid positional here.
  const args = argv[0] === "feed" ? argv.slice(1) : [...argv];
  const values = readArgs(args);

  if (values.symbols !== undefined && values["symbol-list"] !== undefined) {
    throw new ConfigError("--symbols and --symbol-list are mutually exclusive: give a count or a list, not both");
  }

  const universe: FeedUniverse =
    values["symbol-list"] !== undefined
      ? { kind: "list", symbols: parseSymbolList(values["symbol-list"]) }
      : { kind: "generated", count: values.symbols === undefined ? DEFAULT_UNIVERSE_SIZE : parseSymbolCount(values.symbols) };

  // An empty NATS_URL (`NATS_URL= quotecast feed`) means unset, as shells and compose files use it.
  const envNats = env.NATS_URL === "" ? undefined : env.NATS_URL;
  return {
    servers: parseServers(values.nats ?? envNats ?? DEFAULT_NATS_URL, values.nats !== undefined ? "--nats" : "NATS_URL"),
    universe,
    rate: values.rate === undefined ? DEFAULT_FEED_RATE : parseRate(values.rate),
    durationSec: values.duration === undefined ? null : parseDuration(values.duration),
    seed: values.seed === undefined ? null : parseSeed(values.seed),
    help: values.help ?? false,
  };
}

function readArgs(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        nats: { type: "string" },
        symbols: { type: "string" },
        "symbol-list": { type: "string" },
        rate: { type: "string" },
        duration: { type: "string" },
        seed: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    // parseArgs' own message names the offending argument; add where to find the valid ones.
    const message = (err as Error).message.replace(/\.?\s*$/, "");
    throw new ConfigError(`${message}. Run "quotecast feed --help" for the options.`, { cause: err });
  }
}

function parseServers(text: string, source: string): string[] {
  const servers = text.split(",").map((s) => s.trim());
  if (servers.some((s) => s === "")) {
    throw new ConfigError(`${source} must be a comma-separated list of NATS URLs such as ${DEFAULT_NATS_URL}, got "${text}"`);
  }
  return servers;
}

function parseSymbolList(text: string): string[] {
  const symbols: string[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(",")) {
    const symbol = raw.trim().toUpperCase();
    if (symbol === "") throw new ConfigError(`--symbol-list has an empty entry in "${text}": give symbols separated by single commas`);
    if (!isSymbol(symbol)) {
      throw new ConfigError(`--symbol-list: "${raw.trim()}" is not a valid symbol (letters, digits, "." and "-", up to 16 characters, matching ${SYMBOL_PATTERN})`);
    }
    // Duplicates would only skew the tick weights; the contract ignores them elsewhere too.
    if (seen.has(symbol)) continue;
    seen.add(symbol);
    symbols.push(symbol);
  }
  if (symbols.length > MAX_UNIVERSE_SIZE) {
    throw new ConfigError(`--symbol-list names ${symbols.length} symbols; at most ${MAX_UNIVERSE_SIZE} are supported`);
  }
  return symbols;
}

function parseSymbolCount(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_UNIVERSE_SIZE) {
    throw new ConfigError(`--symbols must be a whole number from 1 to ${MAX_UNIVERSE_SIZE}, got "${text}"`);
  }
  return n;
}

function parseRate(text: string): number {
  const n = parseDecimal(text);
  if (!(n > 0) || n > MAX_FEED_RATE) {
    throw new ConfigError(`--rate must be a number of quotes per second above 0 and at most ${MAX_FEED_RATE}, got "${text}"`);
  }
  return n;
}

function parseDuration(text: string): number {
  const n = parseDecimal(text);
  if (!(n > 0)) {
    throw new ConfigError(`--duration must be a number of seconds above 0 (omit it to run until stopped), got "${text}"`);
  }
  return n;
}

function parseSeed(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > MAX_SEED) {
    throw new ConfigError(`--seed must be a whole number from 0 to ${MAX_SEED}, got "${text}"`);
  }
  return n;
}

/** Plain decimal notation only: "1e3" or "0x10" as a rate is more likely a typo than intent. */
function parseDecimal(text: string): number {
  return /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
}
