import t, { type Test } from "tap";
import {
  ConfigError,
  DEFAULT_FEED_RATE,
  DEFAULT_NATS_URL,
  FEED_USAGE,
  parseFeedArgs,
} from "../src/simulator/feed-config.js";
import { ConfigError as SharedConfigError } from "../src/config/config-error.js";
import { DEFAULT_UNIVERSE_SIZE } from "../src/simulator/universe.js";

function configError(t: Test, argv: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): void {
  // "--rate -5" is read by parseArgs as a missing value; "--rate=-5" reaches our own validation.
  if (argv.length === 2 && argv[1]!.startsWith("-")) argv = [`${argv[0]}=${argv[1]}`];
  t.throws(() => parseFeedArgs(argv, env), pattern, argv.join(" "));
  try {
    parseFeedArgs(argv, env);
  } catch (err) {
    t.ok(err instanceof ConfigError, `${argv.join(" ")} throws a ConfigError`);
    t.equal((err as Error).name, "ConfigError");
  }
}

t.test("feed-config - defaults", async (t) => {
  t.same(parseFeedArgs([], {}), {
    servers: [DEFAULT_NATS_URL],
    universe: { kind: "generated", count: DEFAULT_UNIVERSE_SIZE },
    rate: DEFAULT_FEED_RATE,
    durationSec: null,
    seed: null,
    mix: "market",
    help: false,
  });
  t.equal(DEFAULT_NATS_URL, "nats://127.0.0.1:4222");
  t.equal(DEFAULT_FEED_RATE, 1000);
  t.equal(DEFAULT_UNIVERSE_SIZE, 50);
});

t.test("feed-config - every option", async (t) => {
  const c = parseFeedArgs(["--nats", "nats://a:1,nats://b:2", "--symbols", "500", "--rate", "100000", "--duration", "2.5", "--seed", "42", "--mix", "every-field"], {});
  t.same(c, {
    servers: ["nats://a:1", "nats://b:2"],
    universe: { kind: "generated", count: 500 },
    rate: 100000,
    durationSec: 2.5,
    seed: 42,
    mix: "every-field",
    help: false,
  });
  t.same(parseFeedArgs(["--rate=0.5", "--seed=0", "--seed", "4294967295"], {}).rate, 0.5);
  t.equal(parseFeedArgs(["--seed", "4294967295"], {}).seed, 4294967295);
  t.equal(parseFeedArgs(["--help"], {}).help, true);
  t.throws(() => parseFeedArgs(["--mix", "random"], {}), { name: "ConfigError", message: '--mix must be one of market, every-field, got "random"' });
  t.equal(parseFeedArgs(["-h"], {}).help, true);
  t.match(FEED_USAGE, /--symbol-list/);
});

t.test("feed-config - the command word may be passed along", async (t) => {
  t.same(parseFeedArgs(["feed", "--rate", "10"], {}).rate, 10);
});

t.test("feed-config - NATS servers: flag, then NATS_URL, then default", async (t) => {
  t.same(parseFeedArgs([], { NATS_URL: "nats://env:4222" }).servers, ["nats://env:4222"]);
  t.same(parseFeedArgs(["--nats", "nats://flag:4222"], { NATS_URL: "nats://env:4222" }).servers, ["nats://flag:4222"]);
  t.same(parseFeedArgs([], { NATS_URL: " nats://a:1 , nats://b:2 " }).servers, ["nats://a:1", "nats://b:2"]);
  t.same(parseFeedArgs([], { NATS_URL: "" }).servers, [DEFAULT_NATS_URL], "an empty NATS_URL is unset");
  configError(t, ["--nats", "nats://a:1,,nats://b:2"], /--nats must be a comma-separated list of NATS URLs/);
  configError(t, ["--nats", ""], /--nats must be a comma-separated list/);
  configError(t, [], /NATS_URL must be a comma-separated list/, { NATS_URL: "," });
});

t.test("feed-config - symbol list is upper-cased, trimmed and de-duplicated", async (t) => {
  t.same(parseFeedArgs(["--symbol-list", "aapl, msft,brk.b,AAPL,btc-usd"], {}).universe, {
    kind: "list",
    symbols: ["AAPL", "MSFT", "BRK.B", "BTC-USD"],
  });
});

t.test("feed-config - bad symbols are rejected with the offending entry named", async (t) => {
  configError(t, ["--symbol-list", "AAPL,b@d"], /--symbol-list: "b@d" is not a valid symbol/);
  configError(t, ["--symbol-list", "AAPL,.DOT"], /"\.DOT" is not a valid symbol/);
  configError(t, ["--symbol-list", "ABCDEFGHIJKLMNOPQ"], /not a valid symbol \(letters, digits, "\." and "-", up to 16 characters/);
  configError(t, ["--symbol-list", "AAPL,,MSFT"], /--symbol-list has an empty entry/);
  configError(t, ["--symbol-list", ""], /--symbol-list has an empty entry/);
  const tooMany = Array.from({ length: 10_001 }, (_, i) => `S${i}`).join(",");
  configError(t, ["--symbol-list", tooMany], /--symbol-list names 10001 symbols; at most 10000 are supported/);
});

t.test("feed-config - bad numbers are rejected with the accepted range", async (t) => {
  for (const v of ["0", "10001", "1.5", "abc", "-3", ""]) {
    configError(t, ["--symbols", v], /--symbols must be a whole number from 1 to 10000, got/);
  }
  for (const v of ["0", "-5", "abc", "1e3", "2000000", ""]) {
    configError(t, ["--rate", v], /--rate must be a number of quotes per second above 0 and at most 1000000, got/);
  }
  for (const v of ["0", "-1", "soon", ""]) {
    configError(t, ["--duration", v], /--duration must be a number of seconds above 0/);
  }
  for (const v of ["-1", "1.5", "4294967296", "x"]) {
    configError(t, ["--seed", v], /--seed must be a whole number from 0 to 4294967295, got/);
  }
});

t.test("feed-config - unknown options, positionals, missing values and conflicts", async (t) => {
  configError(t, ["--bogus"], /Unknown option '--bogus'.*quotecast feed --help/);
  configError(t, ["extra"], /positional argument.*quotecast feed --help/);
  configError(t, ["--rate"], /--rate.*argument missing\. Run "quotecast feed --help" for the options\.$/);
  t.throws(() => parseFeedArgs(["--rate", "-5"], {}), ConfigError, "a negative value without = is a ConfigError too");
  configError(t, ["--symbols", "3", "--symbol-list", "AAPL"], /--symbols and --symbol-list are mutually exclusive/);
});

t.test("feed-config - ConfigError is the one the CLI already handles", async (t) => {
  t.equal(ConfigError, SharedConfigError);
});
