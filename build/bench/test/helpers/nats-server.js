// Private nats-server processes for integration tests.
//
// Every server started here listens on a free 127.0.0.1 port with its own
// temporary JetStream store, so tests never touch the shared server on
// 127.0.0.1:4222 and never see each other's streams.
import { spawn } from "node:child_process";
import { accessSync, constants as fsConstants, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
/** The shared development server; integration tests must never use it. */
const SHARED_PORT = 4222;
const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const LOG_TAIL_BYTES = 16_384;
export class NatsServerError extends Error {
    name = "NatsServerError";
    constructor(message, options) {
        super(message, options);
    }
}
// Servers still alive when the test process exits (a test that forgot its
// teardown, or a crash) are killed here, so no nats-server outlives the run.
const live = new Set();
const storeDirs = new Set();
let exitHookInstalled = false;
function installExitHook() {
    if (exitHookInstalled)
        return;
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const child of live) {
            try {
                child.kill("SIGKILL");
            }
            catch {
                /* already gone */
            }
        }
        for (const dir of storeDirs) {
            try {
                rmSync(dir, { recursive: true, force: true });
            }
            catch {
                /* best effort */
            }
        }
    });
}
/** A port that was free on 127.0.0.1 a moment ago (listen on 0, close). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.unref();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const address = srv.address();
            const port = typeof address === "object" && address ? address.port : 0;
            srv.close(() => {
                if (port > 0 && port !== SHARED_PORT)
                    resolve(port);
                else
                    freePort().then(resolve, reject);
            });
        });
    });
}
/** Path of the nats-server binary: PATH first, then the usual install places. */
export function findNatsServerBinary() {
    const candidates = [
        ...(process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "nats-server")),
        "/usr/sbin/nats-server",
        "/usr/local/bin/nats-server",
        "/usr/bin/nats-server",
    ];
    for (const file of candidates) {
        try {
            accessSync(file, fsConstants.X_OK);
            return file;
        }
        catch {
            /* next */
        }
    }
    throw new NatsServerError("nats-server not found on PATH nor in /usr/sbin; install it (Debian/Ubuntu: apt-get install nats-server)");
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function canConnect(port, timeoutMs) {
    return new Promise((resolve) => {
        const socket = tcpConnect({ host: "127.0.0.1", port });
        const done = (ok) => {
            clearTimeout(timer);
            socket.destroy();
            resolve(ok);
        };
        const timer = setTimeout(() => done(false), timeoutMs);
        socket.once("connect", () => done(true));
        socket.once("error", () => done(false));
    });
}
async function withConnection(url, timeoutMs, fn) {
    const nc = await connect({ servers: url, reconnect: false, timeout: timeoutMs, noRandomize: true });
    try {
        return await fn(nc);
    }
    finally {
        await nc.close().catch(() => undefined);
    }
}
/** Resolves true once JetStream answers an account-info request through `url`. */
async function jetStreamAnswers(url, timeoutMs) {
    try {
        return await withConnection(url, timeoutMs, async (nc) => {
            const jsm = await jetstreamManager(nc, { timeout: timeoutMs, checkAPI: false });
            await jsm.getAccountInfo();
            return true;
        });
    }
    catch {
        return false;
    }
}
class ManagedNatsServer {
    binary;
    spec;
    url;
    child;
    exited = Promise.resolve();
    log = "";
    cleanedUp = false;
    constructor(binary, spec) {
        this.binary = binary;
        this.spec = spec;
        this.url = `nats://127.0.0.1:${spec.port}`;
    }
    get port() {
        return this.spec.port;
    }
    get storeDir() {
        return this.spec.storeDir;
    }
    get serverName() {
        return this.spec.serverName;
    }
    get pid() {
        return this.child?.pid;
    }
    get running() {
        return this.child !== undefined;
    }
    logs() {
        return this.log;
    }
    appendLog(chunk) {
        this.log += chunk.toString("utf8");
        if (this.log.length > LOG_TAIL_BYTES)
            this.log = this.log.slice(-LOG_TAIL_BYTES);
        if (process.env.NATS_HELPER_DEBUG)
            process.stderr.write(`[${this.spec.serverName}] ${chunk.toString("utf8")}`);
    }
    /** Spawn the process; does not wait for it to accept connections. */
    spawn() {
        if (this.cleanedUp)
            throw new NatsServerError(`${this.spec.serverName} was cleaned up; start a new server`);
        if (this.child)
            return;
        const args = ["-a", "127.0.0.1", "-p", String(this.spec.port), "--server_name", this.spec.serverName];
        if (this.spec.jetstream)
            args.push("-js", "-sd", this.spec.storeDir);
        args.push(...this.spec.extraArgs);
        const child = spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
        this.child = child;
        live.add(child);
        // Unref'd so a forgotten server cannot keep the test process alive; the
        // exit hook kills it. Every wait below holds its own timer, which keeps
        // the event loop running while we wait on the child.
        child.unref();
        for (const stream of [child.stdout, child.stderr]) {
            stream?.on("data", (chunk) => this.appendLog(chunk));
            stream?.unref?.();
        }
        this.exited = new Promise((resolve) => {
            child.once("exit", (code, signal) => {
                live.delete(child);
                if (this.child === child)
                    this.child = undefined;
                this.appendLog(Buffer.from(`-- exited code=${code} signal=${signal}\n`));
                resolve();
            });
            child.once("error", (err) => {
                live.delete(child);
                if (this.child === child)
                    this.child = undefined;
                this.appendLog(Buffer.from(`-- spawn error: ${err.message}\n`));
                resolve();
            });
        });
    }
    /** Wait until the server accepts NATS connections (and, optionally, JetStream answers). */
    async waitReady(waitForJetStream, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        let stage = "accept TCP connections";
        while (Date.now() < deadline) {
            if (!this.child) {
                throw new NatsServerError(`${this.spec.serverName} exited before it was ready (${this.url}).\n--- nats-server log ---\n${this.log}`);
            }
            const left = Math.max(100, Math.min(1000, deadline - Date.now()));
            if (stage === "accept TCP connections" && (await canConnect(this.spec.port, left))) {
                stage = "answer the NATS protocol";
            }
            if (stage === "answer the NATS protocol") {
                const ok = await withConnection(this.url, left, (nc) => nc.flush()).then(() => true, () => false);
                if (ok) {
                    if (!waitForJetStream)
                        return;
                    stage = "answer JetStream requests";
                }
            }
            if (stage === "answer JetStream requests" && (await jetStreamAnswers(this.url, left)))
                return;
            await sleep(50);
        }
        throw new NatsServerError(`${this.spec.serverName} did not ${stage} on ${this.url} within ${timeoutMs} ms.\n--- nats-server log ---\n${this.log}`);
    }
    async signalAndWait(signal, timeoutMs) {
        const child = this.child;
        if (!child)
            return;
        child.kill(signal);
        let timer;
        const timedOut = await Promise.race([
            this.exited.then(() => false),
            new Promise((resolve) => {
                timer = setTimeout(() => resolve(true), timeoutMs);
            }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
            if (signal === "SIGKILL") {
                throw new NatsServerError(`${this.spec.serverName} (pid ${child.pid}) did not exit after SIGKILL`);
            }
            await this.signalAndWait("SIGKILL", DEFAULT_STOP_TIMEOUT_MS);
        }
    }
    stop() {
        return this.signalAndWait("SIGTERM", DEFAULT_STOP_TIMEOUT_MS);
    }
    kill() {
        return this.signalAndWait("SIGKILL", DEFAULT_STOP_TIMEOUT_MS);
    }
    async restart(options = {}) {
        await this.stop();
        this.spawn();
        await this.waitReady(options.waitForJetStream ?? this.spec.jetstream, options.timeoutMs ?? this.spec.startTimeoutMs);
    }
    async cleanup() {
        await this.stop();
        this.cleanedUp = true;
        await rm(this.spec.storeDir, { recursive: true, force: true });
        storeDirs.delete(this.spec.storeDir);
    }
}
let serial = 0;
function uniqueName(prefix) {
    serial += 1;
    return `${prefix}-${process.pid}-${serial}-${Math.random().toString(36).slice(2, 8)}`;
}
async function makeStoreDir() {
    const dir = await mkdtemp(join(tmpdir(), "quotecast-nats-"));
    storeDirs.add(dir);
    return dir;
}
const portTaken = (log) => /address already in use/i.test(log);
/**
 * Start a private nats-server with JetStream on a free 127.0.0.1 port and a
 * temporary store. Resolves once it accepts connections and JetStream answers.
 */
export async function startNatsServer(options = {}) {
    installExitHook();
    const binary = findNatsServerBinary();
    const jetstream = options.jetstream ?? true;
    const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const storeDir = await makeStoreDir();
    // freePort() races with every other process on the machine: if another one
    // grabs the port before nats-server binds it, try again with a new port.
    for (let attempt = 1;; attempt++) {
        const server = new ManagedNatsServer(binary, {
            port: await freePort(),
            storeDir,
            serverName: uniqueName(options.name ?? "qc-test"),
            jetstream,
            extraArgs: options.args ?? [],
            startTimeoutMs,
        });
        server.spawn();
        try {
            await server.waitReady(jetstream, startTimeoutMs);
            return server;
        }
        catch (err) {
            await server.kill().catch(() => undefined);
            if (attempt < 3 && portTaken(server.logs()))
                continue;
            await rm(storeDir, { recursive: true, force: true });
            storeDirs.delete(storeDir);
            throw err;
        }
    }
}
/**
 * Start `n` clustered nats-servers, JetStream on each with its own store.
 * Resolves once every node answers JetStream requests (a meta leader is
 * elected and every node knows it), so R`n` streams can be created at once.
 */
export async function startNatsCluster(n = 3, options = {}) {
    if (!Number.isInteger(n) || n < 1)
        throw new NatsServerError(`cluster size must be a positive integer, got ${n}`);
    installExitHook();
    const binary = findNatsServerBinary();
    const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS * 2;
    const clusterName = uniqueName(options.name ?? "qc-cluster");
    const clientPorts = [];
    const routePorts = [];
    // Distinct ports: freePort() can hand back a port it returned a moment ago.
    while (clientPorts.length + routePorts.length < 2 * n) {
        const port = await freePort();
        if (clientPorts.includes(port) || routePorts.includes(port))
            continue;
        (clientPorts.length < n ? clientPorts : routePorts).push(port);
    }
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`);
    const nodes = [];
    const cleanupAll = async () => {
        await Promise.all(nodes.map((node) => node.cleanup().catch(() => undefined)));
    };
    try {
        for (let i = 0; i < n; i++) {
            const node = new ManagedNatsServer(binary, {
                port: clientPorts[i],
                storeDir: await makeStoreDir(),
                serverName: `${clusterName}-n${i + 1}`,
                jetstream: true,
                extraArgs: [
                    "--cluster",
                    routes[i],
                    "--cluster_name",
                    clusterName,
                    "--routes",
                    routes.filter((_, j) => j !== i).join(","),
                    ...(options.args ?? []),
                ],
                startTimeoutMs,
            });
            nodes.push(node);
            node.spawn();
        }
        // JetStream answers on a node only once the meta group has a leader that
        // this node knows, so checking every node also waits for the election.
        await Promise.all(nodes.map((node) => node.waitReady(true, startTimeoutMs)));
    }
    catch (err) {
        await cleanupAll();
        throw err;
    }
    const urls = nodes.map((node) => node.url);
    return {
        urls,
        url: urls.join(","),
        clusterName,
        nodes,
        stop: async () => {
            await Promise.all(nodes.map((node) => node.stop()));
        },
        waitForJetStream: async (timeoutMs = startTimeoutMs) => {
            await Promise.all(nodes.filter((node) => node.running).map((node) => node.waitReady(true, timeoutMs)));
        },
        restart: async (restartOptions = {}) => {
            await Promise.all(nodes.map((node) => node.stop()));
            // All at once: no node can answer JetStream until a quorum is back.
            for (const node of nodes)
                node.spawn();
            const timeoutMs = restartOptions.timeoutMs ?? startTimeoutMs;
            await Promise.all(nodes.map((node) => node.waitReady(true, timeoutMs)));
        },
        cleanup: cleanupAll,
    };
}
