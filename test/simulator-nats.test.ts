import t, { type Test } from "tap";
import { spawn } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { QUOTE_STREAM } from "../src/ingest/quote-stream.js";
import { logger } from "../src/log/logger.js";
import { NatsUnavailableError } from "../src/simulator/feed-connection.js";
import { runFeed } from "../src/simulator/run-feed.js";
import { freePort, startNatsServer } from "./helpers/nats-server.js";

// The feed logs pino lines on stdout, which is this test's TAP stream: keep it quiet.
logger.level = "warn";

interface Counter {
  readonly payloads: string[];
  readonly subjects: string[];
}

async function subscribeAll(t: Test, url: string): Promise<{ nc: NatsConnection; seen: Counter }> {
  const nc = await connect({ servers: url, timeout: 5000 });
  t.teardown(() => nc.close());
  const seen: Counter = { payloads: [], subjects: [] };
  nc.subscribe("quotes.>", {
    callback: (err, msg) => {
      if (err) return;
      seen.subjects.push(msg.subject);
      seen.payloads.push(msg.string());
    },
  });
  await nc.flush();
  return { nc, seen };
}

/** Resolves once `count()` has not changed for `quietMs`, or after `maxMs`. */
async function settle(count: () => number, quietMs = 300, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  while (Date.now() < deadline) {
    const now = count();
    if (now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

t.test("simulator - publishes the configured rate of valid quotes to NATS", async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.cleanup());
  const { nc, seen } = await subscribeAll(t, server.url);

  const started = Date.now();
  const code = await runFeed(["--nats", server.url, "--duration", "2", "--rate", "500", "--seed", "1"], {});
  const finished = Date.now();
  t.equal(code, 0);
  await nc.flush();
  await settle(() => seen.payloads.length);

  const expected = 1000;
  t.ok(Math.abs(seen.payloads.length - expected) <= expected * 0.05, `received ${seen.payloads.length} of ${expected}`);
  t.ok(finished - started >= 1900 && finished - started < 4000, `ran for ${finished - started} ms`);

  const lastSeq = new Map<string, number>();
  const problems: string[] = [];
  seen.payloads.forEach((payload, k) => {
    const q = JSON.parse(payload) as { sym: string; ts: number; seq: number; bid: number; ask: number; bsz: number; asz: number; last: number; vol: number };
    if (seen.subjects[k] !== `quotes.${q.sym}`) problems.push(`subject ${seen.subjects[k]} for ${payload}`);
    if (!(q.ts >= started - 1 && q.ts <= finished)) problems.push(`ts of ${payload}`);
    if (q.seq !== (lastSeq.get(q.sym) ?? 0) + 1) problems.push(`seq of ${payload}`);
    if (!(q.bid < q.ask && q.bsz > 0 && q.asz > 0 && q.vol > 0)) problems.push(`values of ${payload}`);
    lastSeq.set(q.sym, q.seq);
  });
  t.same(problems.slice(0, 10), []);
  t.equal(lastSeq.size, 50, "the default universe: 50 symbols, every one quoted");

  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(QUOTE_STREAM);
  t.equal(info.state.messages, 50, "the feed created the last-value stream: one quote kept per symbol");
});

t.test("simulator - a missing nats-server is reported with its URL", async (t) => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  await t.rejects(runFeed(["--nats", url, "--duration", "1"], {}), NatsUnavailableError);
  await t.rejects(runFeed(["--nats", url], {}), new RegExp(`cannot connect to NATS at ${url} .*nats-server`));
});

// A child process, because a signal to this one would reach the test runner too; it runs
// the TypeScript sources through the same loader tap gave this process.
const tsLoader = process.execArgv.find((a) => a.includes("@tapjs/typescript"));
const needsLoader = tsLoader ? false : "needs tap's TypeScript loader to start the feed in a child process";

t.test("simulator - SIGTERM stops the feed, drains every quote and exits 0", { skip: needsLoader }, async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.cleanup());
  const { nc, seen } = await subscribeAll(t, server.url);

  const runFeedUrl = pathToFileURL(fileURLToPath(new URL("../src/simulator/run-feed.ts", import.meta.url))).href;
  const loggerUrl = new URL("../src/log/logger.ts", import.meta.url).href;
  const script = `
    const { runFeed } = await import(${JSON.stringify(runFeedUrl)});
    const { flushLogger } = await import(${JSON.stringify(loggerUrl)});
    process.exitCode = await runFeed(process.argv.slice(1), process.env);
    flushLogger();
  `;
  const child = spawn(process.execPath, [tsLoader!, "--input-type=module", "-e", script, "--", "--nats", server.url, "--rate", "200", "--symbols", "5"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_LEVEL: "info" },
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const deadline = Date.now() + 30_000;
  while (seen.payloads.length < 100 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  t.ok(seen.payloads.length >= 100, `quotes flowing before the signal (${seen.payloads.length}); stderr: ${stderr}`);
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r("timeout"), 10_000)))]);
  clearTimeout(timer);
  t.equal(code, 0, "exit code");

  await nc.flush();
  await settle(() => seen.payloads.length);
  const stopLine = stdout.split("\n").find((l) => l.includes('"feed stopping"'));
  t.ok(stopLine, "a stop line is logged");
  const stop = JSON.parse(stopLine ?? "{}") as { reason?: string; published?: number };
  t.equal(stop.reason, "received SIGTERM");
  t.equal(seen.payloads.length, stop.published, "every quote counted as published reached NATS");
  t.match(stdout, /"msg":"feed started"/);
});
