// The two servers a scenario races, behind one interface: start on free ports against a given
// NATS, wait until ready, read the same four counters, account CPU/RSS to the right processes.
import { fileURLToPath } from "node:url";
import { freePort } from "../../test/helpers/nats-server.js";
import { sleep, spawnManaged, treeUsage } from "./processes.js";
const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
export const CLI = `${REPO}dist/cli.js`;
// Compiled next to this file by tsconfig.bench.json.
const BASELINE = fileURLToPath(new URL("../baseline/node-sse-server.js", import.meta.url));
export async function startTarget(kind, opts) {
    return kind === "quotecast" ? startQuotecast(opts) : startBaseline(opts);
}
async function startQuotecast(opts) {
    const port = await freePort();
    const metricsPort = await freePort();
    const proc = spawnManaged("quotecast", process.execPath, [
        CLI, "serve", "--port", String(port), "--host", "127.0.0.1", "--metrics-port", String(metricsPort),
        "--nats", opts.nats, "--workers", String(opts.workers ?? 1), "--flush-ms", String(opts.flushMs),
        // The bench opens thousands of connections from one address in a few seconds: the
        // per-address caps that protect production would refuse most of them.
        "--max-connections-per-ip", "1000000", "--max-connect-rate-per-ip", "0", "--max-connect-rate", "0",
        "--max-connections", "1000000", "--drain-ms", "0",
    ], { LOG_LEVEL: "warn" });
    await waitReady(proc, port);
    return {
        kind: "quotecast",
        port,
        proc,
        async counters() {
            const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
            return {
                quotesReceived: metric(text, "quotecast_quotes_received_total"),
                framesSent: metric(text, "quotecast_frames_sent_total"),
                bytesSent: metric(text, "quotecast_bytes_sent_total"),
                connections: metric(text, "quotecast_connections"),
                flushSec: metric(text, "quotecast_flush_duration_seconds_sum"),
                flushes: metric(text, "quotecast_flush_duration_seconds_count"),
            };
        },
        usage: () => treeUsage(proc.pid),
        stop: () => proc.stop(),
    };
}
async function startBaseline(opts) {
    const port = await freePort();
    const proc = spawnManaged("baseline", process.execPath, [BASELINE, "--port", String(port), "--nats", opts.nats, "--flush-ms", String(opts.flushMs)]);
    await waitReady(proc, port);
    return {
        kind: "baseline",
        port,
        proc,
        async counters() {
            return (await (await fetch(`http://127.0.0.1:${port}/stats`)).json());
        },
        usage: () => treeUsage(proc.pid),
        stop: () => proc.stop(),
    };
}
async function waitReady(proc, port, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (Date.now() < deadline && !exited) {
        try {
            if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200)
                return;
        }
        catch {
            /* not listening yet */
        }
        await sleep(100);
    }
    await proc.stop();
    throw new Error(`${proc.name} did not become ready on port ${port}; output:\n${proc.output()}`);
}
/** Sum of the samples of `name` (no labels, or all label sets) in Prometheus text. */
export function metric(text, name) {
    let sum = 0;
    for (const line of text.split("\n")) {
        if (line.startsWith(name + " ") || line.startsWith(name + "{"))
            sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
}
export function startFeed(nats, symbols, rate, durationSec) {
    const args = [CLI, "feed", "--nats", nats, "--rate", String(rate), "--symbol-list", symbols.join(","), "--seed", "42"];
    if (durationSec !== undefined)
        args.push("--duration", String(durationSec));
    const proc = spawnManaged("feed", process.execPath, args, { LOG_LEVEL: "info" });
    return {
        proc,
        async finished() {
            const code = await proc.exited;
            const line = proc.output().split("\n").find((l) => l.includes('"feed stopping"'));
            if (code !== 0 || line === undefined)
                throw new Error(`feed failed (exit ${code}):\n${proc.output()}`);
            const j = JSON.parse(line);
            return { published: j.published, seconds: j.seconds, skipped: j.skipped };
        },
        stop: () => proc.stop(),
    };
}
/** `count` symbols that match the contract's pattern, the same in every run. */
export function benchSymbols(count) {
    return Array.from({ length: count }, (_, i) => `BN${String(i).padStart(4, "0")}`);
}
