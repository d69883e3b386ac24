// Scenario "capacity": how many SSE connections one `quotecast serve --workers 2` holds on this
// machine, and the memory each costs. Connections are added in steps while a slow feed keeps
// frames flowing to all of them; after each step: connections per worker, RSS per process,
// events/s received, p99 latency. quotecast only: a capacity figure, not a race.
//
// The sockets are held by several client processes (forked copies of this file, talking over
// IPC): each process has its own `ulimit -n`, and each connects from its own loopback address
// (127.0.0.2, .3, ...) because all connections go to one server address and port, so one source
// address could not open more than the ephemeral port range (~28k) of them.

import { fork, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../test/helpers/nats-server.js";
import { descendants, machineBusy, openFileLimit, sleep, treeUsage } from "./lib/processes.js";
import { fmt, type Row, type ScenarioResult } from "./lib/report.js";
import { LatencyHistogram, SsePool, type OpenResult } from "./lib/sse-client.js";
import { benchSymbols, startFeed, startTarget } from "./lib/targets.js";

export interface CapacityOptions {
  /** Stop adding connections at this total. */
  readonly target: number;
  readonly step: number;
  readonly clients: number;
  readonly universe: number;
  readonly perConnection: number;
  /** Feed quotes/s over the whole universe. Low on purpose: see runCapacity. */
  readonly rate: number;
  readonly flushMs: number;
  readonly settleSec: number;
  readonly windowSec: number;
  readonly sampleEvery: number;
  readonly p99LimitMs: number;
}

type Ask = { type: "open"; n: number } | { type: "mark" | "report" | "close" };
type ToClient = Ask & { id: number };
interface Report {
  id: number;
  live: number;
  dropped: number;
  events: number;
  /** Fewest quotes events a live connection got since mark. */
  minEvents: number;
  /** Non-empty latency buckets [ms, count] since mark: merged into one histogram by the parent. */
  hist: [number, number][];
  max: number;
}

// ---------------------------------------------------------------- client process (forked)

const CLIENT_ENV = "QUOTECAST_CAPACITY_CLIENT";

async function clientMain(): Promise<void> {
  const [port, localAddress, path, sampleEvery] = JSON.parse(process.env[CLIENT_ENV]!) as [number, string, string, number];
  // SsePool connects with net.connect({host, port}); it has no source-address option. Wrapping the
  // builtin and syncing its ESM bindings gives every socket of this process our source address.
  const original = net.connect;
  net.connect = ((opts: net.NetConnectOpts, ...rest: [never]) => original({ ...opts, localAddress } as net.NetConnectOpts, ...rest)) as typeof net.connect;
  syncBuiltinESMExports();
  const pool = new SsePool(port);
  let marked = pool.mark();
  const reply = (m: object) => process.send!(m);
  process.on("disconnect", () => process.exit(0)); // the bench died: do not outlive it
  process.on("message", (m: ToClient) => {
    if (m.type === "open") void pool.open(m.n, () => path, sampleEvery).then((r) => reply({ id: m.id, ...r }));
    else if (m.type === "mark") {
      marked = pool.mark();
      reply({ id: m.id });
    } else if (m.type === "report") {
      const hist: [number, number][] = [];
      pool.latency.buckets.forEach((c, ms) => c > 0 && hist.push([ms, c]));
      const live = pool.conns.filter((c) => c.state === "live").length;
      const r: Report = { id: m.id, live, dropped: pool.dropped, events: pool.totals.quoteEvents - marked.quoteEvents, minEvents: pool.spread().min, hist, max: pool.latency.max };
      reply(r);
    } else {
      pool.close();
      process.send!({ id: m.id }, () => process.exit(0));
    }
  });
}

if (process.env[CLIENT_ENV] !== undefined && process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) void clientMain();

// ---------------------------------------------------------------- bench side

interface Client {
  readonly proc: ChildProcess;
  readonly address: string;
  held: number;
  ask<T>(m: Ask): Promise<T>;
}

const clients = new Set<ChildProcess>();
// Children also exit when their IPC channel closes; this covers a parent that exits abruptly.
process.on("exit", () => clients.forEach((c) => c.kill("SIGKILL")));

function startClient(address: string, port: number, path: string, sampleEvery: number): Client {
  const proc = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [CLIENT_ENV]: JSON.stringify([port, address, path, sampleEvery]) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  clients.add(proc);
  const pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  proc.on("message", (m: { id: number }) => {
    pending.get(m.id)?.resolve(m as never);
    pending.delete(m.id);
  });
  proc.once("exit", (code, sig) => {
    clients.delete(proc);
    for (const p of pending.values()) p.reject(new Error(`client ${address} exited (${code ?? sig})`));
    pending.clear();
  });
  return {
    proc,
    address,
    held: 0,
    ask: <T>(m: Ask) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        if (!proc.connected) return reject(new Error(`client ${address} is gone`));
        pending.set(id, { resolve: resolve as (v: never) => void, reject });
        // The callback form: a send on a channel that just closed must not become an 'error' event.
        proc.send({ ...m, id }, (err) => err && (pending.delete(id), reject(err)));
      }),
  };
}

async function stopClient(c: Client): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise((r) => c.proc.once("exit", r));
  await Promise.race([c.ask({ type: "close" }).catch(() => undefined), sleep(5000)]);
  await Promise.race([exited, sleep(2000)]);
  c.proc.kill("SIGKILL");
}

const rssOf = (pid: number) => Number(readFileSync(`/proc/${pid}/statm`, "latin1").split(" ")[1]) * 4096;
/** Sockets a process holds: a worker's clients plus a constant few (listen socket, NATS, IPC). */
const socketsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).filter((fd) => {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
  } catch {
    return false; // closed while we looked
  }
}).length;
/** Kernel memory for sockets, machine-wide: slab (socket structures) + TCP buffer pages. */
function kernelBytes(): number {
  const slab = Number(/^Slab:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "latin1"))?.[1] ?? NaN) * 1024;
  const tcpPages = Number(/^TCP:.* mem (\d+)/m.exec(readFileSync("/proc/net/sockstat", "latin1"))?.[1] ?? NaN);
  return slab + tcpPages * 4096;
}
/** Machine-wide count of SYNs dropped because a listen queue was full (each costs the client a 1 s retransmit). */
const listenOverflows = () => {
  const [keys, vals] = readFileSync("/proc/net/netstat", "latin1").split("\n").filter((l) => l.startsWith("TcpExt:")).map((l) => l.split(" "));
  return Number(vals?.[keys?.indexOf("ListenOverflows") ?? -1] ?? NaN);
};
const readSys = (f: string) => { try { return readFileSync(f, "latin1").trim().replace(/\s+/g, "-"); } catch { return "?"; } };

interface Step {
  total: number; opened: number; failed: number; openSec: number; serverConns: number; perWorker: number[]; live: number; dropped: number;
  workerRss: number[]; primaryRss: number; kernel: number; eventsPerSec: number; framesPerSec: number; minEvents: number;
  p99: number; serverCpu: number; clientCpu: number; busy: number; overflows: number;
}

export async function runCapacity(o: CapacityOptions, log: (s: string) => void): Promise<ScenarioResult> {
  // At the fan-out scenario's load (every connection gets an event every 50 ms tick), 36,000
  // connections would be ~700k frames/s: the 2 cores would cap it long before the connection
  // count does. A slow feed keeps frames flowing to every connection (the flow check below) so
  // the limit found is the one on holding connections.
  const perClient = Math.min(15_000, openFileLimit() - 500);
  const target = Math.min(o.target, perClient * o.clients);
  const path = `/quotes?symbols=${benchSymbols(o.universe).slice(0, o.perConnection).join(",")}`;
  log(`capacity: quotecast --workers 2, up to ${fmt(target)} connections in steps of ${fmt(o.step)} from ${o.clients} client processes, all on the same ${o.perConnection} of ${o.universe} symbols, feed ${o.rate}/s`);
  const nats = await startNatsServer({ name: "qc-bench" });
  const cs: Client[] = [];
  let stopFeed: (() => Promise<void>) | undefined;
  let stopTarget: (() => Promise<void>) | undefined;
  const steps: Step[] = [];
  let stopReason = `reached the target of ${fmt(target)}`;
  let command = "";
  let zero: Zero = { workerRss: [NaN, NaN], primaryRss: NaN, kernel: NaN };
  try {
    const srv = await startTarget("quotecast", { nats: nats.url, flushMs: o.flushMs, workers: 2 });
    stopTarget = () => srv.stop();
    command = ["LOG_LEVEL=warn node dist/cli.js", ...srv.proc.child.spawnargs.slice(2)].join(" ");
    const feed = startFeed(nats.url, benchSymbols(o.universe), o.rate);
    stopFeed = () => feed.stop();
    const workers = descendants(srv.proc.pid);
    if (workers.length !== 2) throw new Error(`expected 2 workers under pid ${srv.proc.pid}, found ${workers.length}`);
    for (let i = 0; i < o.clients; i++) cs.push(startClient(`127.0.0.${i + 2}`, srv.port, path, o.sampleEvery));
    // The feed first quotes every symbol once, in order (universe/rate seconds at this rate):
    // only after that do the subscribed symbols tick at their steady rate.
    await sleep(Math.max(o.settleSec, o.universe / o.rate + 1) * 1000);
    const baseSockets = workers.map(socketsOf);
    zero = { workerRss: workers.map(rssOf), primaryRss: rssOf(srv.proc.pid), kernel: kernelBytes() };
    log(`  0 connections: workers RSS ${zero.workerRss.map((r) => (r / 1e6).toFixed(1)).join(" + ")} MB, primary ${(zero.primaryRss / 1e6).toFixed(1)} MB`);
    const cpu = () => ({ server: treeUsage(srv.proc.pid).cpuSec, clients: cs.reduce((a, c) => a + treeUsage(c.proc.pid!).cpuSec, 0) });

    let total = 0;
    // An error mid-run (a client process dying, say) ends the climb but keeps the steps measured.
    try {
      while (total < target) {
        // Spread the step over the clients that still have room.
        let want = Math.min(o.step, target - total);
        const share = cs.map(() => 0);
        for (let i = 0; want > 0; i = (i + 1) % cs.length) if (cs[i]!.held + share[i]! < perClient) (share[i]!++, want--);
        const t0 = performance.now();
        const ov0 = listenOverflows();
        const opens = await Promise.all(cs.map((c, i) => (share[i]! > 0 ? c.ask<OpenResult>({ type: "open", n: share[i]! }) : { opened: 0, failed: 0, firstError: undefined, seconds: 0 })));
        cs.forEach((c, i) => (c.held += opens[i]!.opened));
        const opened = opens.reduce((a, r) => a + r.opened, 0);
        const failed = opens.reduce((a, r) => a + r.failed, 0);
        const firstError = opens.find((r) => r.firstError)?.firstError;
        total += opened;
        const openSec = (performance.now() - t0) / 1000;
        const overflows = listenOverflows() - ov0;
        await sleep(o.settleSec * 1000);

        await Promise.all(cs.map((c) => c.ask({ type: "mark" })));
        const s0 = await srv.counters();
        const c0 = cpu();
        const busy = machineBusy();
        const w0 = performance.now();
        await sleep(o.windowSec * 1000);
        const reports = await Promise.all(cs.map((c) => c.ask<Report>({ type: "report" })));
        const sec = (performance.now() - w0) / 1000;
        const s1 = await srv.counters();
        const c1 = cpu();
        const latency = new LatencyHistogram();
        for (const r of reports) for (const [ms, n] of r.hist) (latency.buckets[ms]! += n), (latency.count += n);
        const now = descendants(srv.proc.pid);
        if (now.length !== 2 || workers.some((w) => !now.includes(w))) {
          stopReason = `a worker died (workers now ${now.join(", ") || "none"})`;
          break;
        }
        const s: Step = {
          total, opened, failed, openSec, serverConns: s1.connections, perWorker: workers.map((w, i) => socketsOf(w) - baseSockets[i]!),
          live: reports.reduce((a, r) => a + r.live, 0), dropped: reports.reduce((a, r) => a + r.dropped, 0),
          workerRss: workers.map(rssOf), primaryRss: rssOf(srv.proc.pid), kernel: kernelBytes(),
          eventsPerSec: reports.reduce((a, r) => a + r.events, 0) / sec, framesPerSec: (s1.framesSent - s0.framesSent) / sec,
          minEvents: Math.min(...reports.map((r) => (r.live > 0 ? r.minEvents : Infinity))),
          p99: latency.quantile(0.99), serverCpu: (100 * (c1.server - c0.server)) / sec, clientCpu: (100 * (c1.clients - c0.clients)) / sec, busy: busy(), overflows,
        };
        steps.push(s);
        log(`  ${fmt(total)} open (+${fmt(opened)}, ${failed} failed${firstError ? `: ${firstError}` : ""}, ${openSec.toFixed(1)} s): server ${fmt(s.serverConns)} = ${s.perWorker.map((n) => fmt(n)).join(" + ")}, ` +
          `workers RSS ${s.workerRss.map((r) => (r / 1e6).toFixed(0)).join(" + ")} MB, ${fmt(s.eventsPerSec)} events/s, min ${s.minEvents}/conn, p99 ${s.p99} ms, server CPU ${s.serverCpu.toFixed(0)} %, busy ${s.busy.toFixed(0)} %`);
        if (opened < (opened + failed) / 2) { stopReason = `a step opened only ${fmt(opened)} of ${fmt(opened + failed)} (${firstError})`; break; }
        if (s.p99 > o.p99LimitMs) { stopReason = `p99 ${s.p99} ms > ${o.p99LimitMs} ms`; break; }
        if (s.dropped > 0.01 * total) { stopReason = `${fmt(s.dropped)} connections dropped`; break; }
        if (!(s.minEvents > 0)) { stopReason = `a live connection got no event in ${o.windowSec} s`; break; }
      }
    } catch (err) {
      stopReason = `error: ${(err as Error).message}`;
      log(`  ${stopReason}`);
    }
  } finally {
    await Promise.all(cs.map(stopClient));
    await stopFeed?.();
    await stopTarget?.();
    await nats.cleanup();
  }
  return report(o, zero, steps, stopReason, command, perClient);
}

type Zero = Pick<Step, "workerRss" | "primaryRss" | "kernel">;

function report(o: CapacityOptions, zero: Zero, steps: Step[], stopReason: string, command: string, perClient: number): ScenarioResult {
  const held = (s: Step) => s.failed === 0 && s.dropped === 0 && s.minEvents > 0 && s.p99 <= o.p99LimitMs && s.serverConns === s.live;
  const best = [...steps].reverse().find(held);
  const kib = (b: number) => b / 1024;
  const rows: Row[] = [];
  const add = (metric: string, v: number, digits = 0) => rows.push({ metric, quotecast: v, baseline: NaN, better: "none", digits });
  if (best !== undefined) {
    const n = best.serverConns;
    const grown = best.workerRss.map((r, i) => r - zero.workerRss[i]!);
    const capped = stopReason.startsWith("reached") && best === steps.at(-1);
    add(`largest connection count held, frames flowing to all (server gauge)${capped ? "; the run's target, not a failure point" : ""}`, n);
    best.perWorker.forEach((c, i) => add(`  of which on worker ${i + 1}`, c));
    add("workers RSS at 0 connections, MB (sum of 2)", zero.workerRss.reduce((a, b) => a + b, 0) / 1e6, 1);
    best.workerRss.forEach((r, i) => add(`worker ${i + 1} RSS at ${fmt(n)}, MB`, r / 1e6, 1));
    add(`primary RSS at ${fmt(n)}, MB (serves no clients)`, best.primaryRss / 1e6, 1);
    add("worker memory per connection, KiB (RSS growth of both / connections)", kib(grown.reduce((a, b) => a + b, 0) / n), 1);
    grown.forEach((g, i) => add(`  worker ${i + 1} alone, KiB`, kib(g / best.perWorker[i]!), 1));
    add("kernel memory per connection, KiB (slab + TCP buffers, both loopback ends, machine-wide)", kib((best.kernel - zero.kernel) / n), 1);
    add(`events/s received at ${fmt(n)} (client)`, best.eventsPerSec);
    add(`frames/s written at ${fmt(n)} (server counter)`, best.framesPerSec);
    add(`publish-to-receive p99 ms at ${fmt(n)}`, best.p99);
    add(`server CPU % at ${fmt(n)} (primary + 2 workers, 100 = one core)`, best.serverCpu, 1);
  } else add("largest connection count held, frames flowing to all (server gauge)", 0);
  const table = [
    "| open (client) | server gauge | worker 1 | worker 2 | failed | dropped | worker RSS MB (1 + 2) | primary RSS MB | KiB/conn (workers) | events/s | min events/conn | p99 ms | server CPU % | clients CPU % | machine busy % | open s | listen overflows |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| 0 | 0 | 0 | 0 | – | – | ${zero.workerRss.map((r) => (r / 1e6).toFixed(1)).join(" + ")} | ${(zero.primaryRss / 1e6).toFixed(1)} | – | – | – | – | – | – | – | – | – |`,
  ];
  for (const s of steps) {
    const grown = s.workerRss.reduce((a, r, i) => a + r - zero.workerRss[i]!, 0);
    table.push(`| ${fmt(s.total)} | ${fmt(s.serverConns)} | ${fmt(s.perWorker[0]!)} | ${fmt(s.perWorker[1]!)} | ${fmt(s.failed)} | ${fmt(s.dropped)} | ${s.workerRss.map((r) => (r / 1e6).toFixed(1)).join(" + ")} | ${(s.primaryRss / 1e6).toFixed(1)} | ${(kib(grown) / Math.max(1, s.serverConns)).toFixed(1)} | ${fmt(s.eventsPerSec)} | ${s.minEvents} | ${s.p99} | ${s.serverCpu.toFixed(0)} | ${s.clientCpu.toFixed(0)} | ${s.busy.toFixed(0)} | ${s.openSec.toFixed(1)} | ${fmt(s.overflows)} |`);
  }
  return {
    scenario: "capacity",
    title: "Capacity: connections one `quotecast serve --workers 2` holds, and memory per connection",
    params: { target: o.target, step: o.step, clientProcesses: o.clients, perClientMax: perClient, symbolsPerConnection: o.perConnection, universe: o.universe, feedRate: o.rate, flushMs: o.flushMs, settleSec: o.settleSec, windowSec: o.windowSec, quotecastWorkers: 2 },
    rows,
    details: [
      `quotecast only (a capacity figure, not a race: the baseline column is empty). Server command: \`${command}\` (ports chosen per run).`,
      `Stopped because: ${stopReason}. "Held" = no connection failed or dropped in the step, the server gauge equals the clients' live count, every live connection got at least one quotes event in the ${o.windowSec} s window, and p99 ≤ ${o.p99LimitMs} ms.`,
      table.join("\n"),
      `Per-worker counts are the sockets each worker pid holds (/proc/<pid>/fd) minus those it held at 0 connections; the kernel spreads connections over the workers (SO_REUSEPORT). RSS from /proc/<pid>/statm; memory per connection = (RSS of both workers at N − at 0) / N, so it includes each connection's share of V8 heap growth not yet collected. Socket buffers and structures are kernel memory, not in RSS: shown separately, machine-wide, for both ends of each loopback connection. "listen overflows" = SYNs dropped while opening the step because a worker's accept queue was full (TcpExt ListenOverflows, machine-wide): each such connection waits for the client's 1 s SYN retransmit. "open s" is the time to open the step, all clients in parallel.`,
      `Each client process connects from its own address (127.0.0.2, .3, …) because one source address can open at most the ephemeral port range to one server port (ip_local_port_range ${readSys("/proc/sys/net/ipv4/ip_local_port_range")}); net.core.somaxconn ${readSys("/proc/sys/net/core/somaxconn")}; ulimit -n ${openFileLimit()} per process (quotecast workers included). Feed ${o.rate} quotes/s is low on purpose: at one event per 50 ms tick per connection, the 2 shared cores, not the connection count, would be the limit.`,
    ],
  };
}
