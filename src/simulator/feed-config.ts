import { parseArgs } from "node:util";
import { ConfigError } from "../config/config-error.js";
import { commandHelp } from "../config/help.js";
import { SYMBOL_PATTERN, isSymbol } from "../ingest/symbol.js";
import { FIELD_MIXES, type FieldMix } from "./price-model.js";
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
  /** Replicas of the QUOTES stream when the feed creates it; undefined: inferred from the cluster. */
  readonly streamReplicas: number | undefined;
  /** Which fields a quote moves (`--mix`): `market` (default) or `every-field`. */
  readonly mix: FieldMix;
  readonly help: boolean;
}

/** `feed` options: flag, environment variable (read like `serve`'s: flags win), meaning, default. */
export const FEED_OPTIONS = [
  { flag: "nats", env: "NATS_URL", help: "comma-separated NATS server URLs", default: DEFAULT_NATS_URL },
  { flag: "symbols", env: "QUOTECAST_FEED_SYMBOLS", help: `simulate this many symbols, well-known tickers first (max ${MAX_UNIVERSE_SIZE})`, default: DEFAULT_UNIVERSE_SIZE },
  { flag: "symbol-list", env: "QUOTECAST_FEED_SYMBOL_LIST", help: "simulate exactly these symbols, comma-separated (case-insensitive)" },
  { flag: "rate", env: "QUOTECAST_FEED_RATE", help: "quotes per second, all symbols together", default: DEFAULT_FEED_RATE },
  { flag: "duration", env: "QUOTECAST_FEED_DURATION", help: "seconds to run (default: until SIGINT/SIGTERM)" },
  { flag: "seed", env: "QUOTECAST_FEED_SEED", help: `whole number 0..${MAX_SEED}: the same seed replays the same prices (default: random, logged)` },
  { flag: "stream-replicas", env: "QUOTECAST_STREAM_REPLICAS", help: "replicas of the QUOTES stream when the feed creates it, 1-5 (default: inferred)" },
  { flag: "mix", env: "QUOTECAST_FEED_MIX", help: "market: each quote moves one side of the book, or is a trade; every-field: each quote re-draws every field", default: "market" },
] as const;

type FeedFlag = (typeof FEED_OPTIONS)[number]["flag"];

export const FEED_USAGE = commandHelp("feed", "Publishes simulated quotes to NATS on quotes.<SYMBOL>.", FEED_OPTIONS);

/**
 * Parse `quotecast feed` arguments (those after the command word). Flags win over the
 * environment. Throws ConfigError on anything it cannot use, never guesses.
 */
export function parseFeedArgs(argv: readonly string[], env: NodeJS.ProcessEnv): FeedConfig {
  // Tolerate being handed the command word too: "feed" can never be a valid positional here.
  const args = argv[0] === "feed" ? argv.slice(1) : [...argv];
  const flags = readArgs(args);
  // A flag wins; else its environment variable, when set and not empty (as compose files leave them).
  const fromEnv = new Set<FeedFlag>();
  const values: Partial<Record<FeedFlag, string>> & { help?: boolean } = { help: flags.help };
  for (const o of FEED_OPTIONS) {
    const flag = flags[o.flag];
    const envValue = env[o.env];
    if (flag !== undefined) values[o.flag] = flag;
    else if (envValue !== undefined && envValue.trim() !== "") {
      values[o.flag] = envValue;
      fromEnv.add(o.flag);
    }
  }
  try {
    return parseValues(values, fromEnv.has("nats") || values.nats === undefined ? "NATS_URL" : "--nats");
  } catch (err) {
    // The messages name the flag; a value from the environment is reported under its variable.
    if (!(err instanceof ConfigError)) throw err;
    const named = FEED_OPTIONS.find((o) => fromEnv.has(o.flag) && o.flag !== "nats" && err.message.includes(`--${o.flag} `));
    if (named === undefined) throw err;
    throw new ConfigError(err.message.replace(`--${named.flag} `, `${named.env} `), { cause: err.cause });
  }
}

function parseValues(values: Partial<Record<FeedFlag, string>> & { help?: boolean }, natsSource: string): FeedConfig {

  if (values.symbols !== undefined && values["symbol-list"] !== undefined) {
    throw new ConfigError("--symbols and --symbol-list are mutually exclusive: give a count or a list, not both");
  }

  const universe: FeedUniverse =
    values["symbol-list"] !== undefined
      ? { kind: "list", symbols: parseSymbolList(values["symbol-list"]) }
      : { kind: "generated", count: values.symbols === undefined ? DEFAULT_UNIVERSE_SIZE : parseSymbolCount(values.symbols) };

  return {
    servers: parseServers(values.nats ?? DEFAULT_NATS_URL, natsSource),
    universe,
    rate: values.rate === undefined ? DEFAULT_FEED_RATE : parseRate(values.rate),
    durationSec: values.duration === undefined ? null : parseDuration(values.duration),
    seed: values.seed === undefined ? null : parseSeed(values.seed),
    streamReplicas: values["stream-replicas"] === undefined ? undefined : parseReplicas(values["stream-replicas"]),
    mix: parseMix(values.mix),
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
        "stream-replicas": { type: "string" },
        mix: { type: "string" },
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

function parseReplicas(text: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 5)) throw new ConfigError(`--stream-replicas must be a whole number from 1 to 5, got "${text}"`);
  return n;
}

/** Plain decimal notation only: "1e3" or "0x10" as a rate is more likely a typo than intent. */
function parseDecimal(text: string): number {
  return /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
}

function parseMix(text: string | undefined): FieldMix {
  if (text === undefined) return "market";
  if ((FIELD_MIXES as readonly string[]).includes(text)) return text as FieldMix;
  throw new ConfigError(`--mix must be one of ${FIELD_MIXES.join(", ")}, got "${text}"`);
}
