import cluster, { type Worker } from "node:cluster";
import { Admission, type AdmissionLimits, type Verdict } from "./admission.js";

type AdmitRequest = { type: "admit"; id: number; ip: string };
type ReleaseMessage = { type: "release"; ip: string };
type AdmitReply = { type: "admitted"; id: number; verdict: Verdict };

/** How long a worker waits for the primary's verdict before deciding on its own share. */
const REPLY_TIMEOUT_MS = 2_000;

/**
 * Primary side: the one Admission answers every worker over IPC. What each worker holds open is
 * remembered, so that the connections of a worker that died are released with it.
 */
export function serveAdmission(admission: Admission): void {
  const held = new Map<number, Map<string, number>>();
  cluster.on("message", (worker: Worker, msg: AdmitRequest | ReleaseMessage) => {
    if (msg?.type === "admit") {
      const verdict = admission.admit(msg.ip, Date.now());
      if (verdict.ok) bump(held, worker.id, msg.ip, 1);
      const reply: AdmitReply = { type: "admitted", id: msg.id, verdict };
      if (worker.isConnected()) worker.send(reply);
      else if (verdict.ok) {
        admission.release(msg.ip);
        bump(held, worker.id, msg.ip, -1);
      }
    } else if (msg?.type === "release") {
      if (bump(held, worker.id, msg.ip, -1)) admission.release(msg.ip);
    }
  });
  cluster.on("exit", (worker) => {
    const ips = held.get(worker.id);
    held.delete(worker.id);
    if (ips) for (const [ip, n] of ips) admission.release(ip, n);
  });
}

function bump(held: Map<number, Map<string, number>>, worker: number, ip: string, by: number): boolean {
  let ips = held.get(worker);
  if (ips === undefined) held.set(worker, (ips = new Map()));
  const n = (ips.get(ip) ?? 0) + by;
  if (n < 0) return false;
  if (n === 0) ips.delete(ip);
  else ips.set(ip, n);
  return true;
}

/**
 * Worker side: ask the primary; one round trip per new connection, never per quote.
 *
 * When the primary gives no verdict in time (stopped, swamped), the worker decides on its own
 * with its share of each limit (localShare: cap ÷ workers), counting everything it holds open,
 * whoever admitted it. It never falls back to admitting everything: with the primary stopped
 * (SIGSTOP) that let 100 of 100 connections from one address in against a cap of 50.
 */
export class AdmissionClient {
  readonly #pending = new Map<number, (v: Verdict) => void>();
  /** Requests answered locally after a timeout: id -> [ip, local verdict was ok]. */
  readonly #late = new Map<number, [string, boolean]>();
  /** Per address: open connections the primary does not count (it refused, or never saw them). */
  readonly #uncounted = new Map<string, number>();
  readonly #local: Admission;
  #nextId = 1;
  /** Verdicts the worker gave on its own because the primary did not answer. */
  timeouts = 0;

  constructor(
    share: AdmissionLimits,
    private readonly replyTimeoutMs = REPLY_TIMEOUT_MS,
  ) {
    this.#local = new Admission(share);
    process.on("message", (msg: AdmitReply) => {
      if (msg?.type !== "admitted") return;
      const resolve = this.#pending.get(msg.id);
      if (resolve !== undefined) {
        this.#pending.delete(msg.id);
        resolve(msg.verdict);
        return;
      }
      const late = this.#late.get(msg.id);
      if (late !== undefined) {
        this.#late.delete(msg.id);
        this.#reconcile(late[0], late[1], msg.verdict.ok);
      }
    });
  }

  admit(ip: string): Promise<Verdict> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.timeouts++;
        const v = this.#local.admit(ip, Date.now());
        if (this.#late.size >= MAX_LATE) this.#late.delete(this.#late.keys().next().value!);
        this.#late.set(id, [ip, v.ok]);
        // Counted as not held by the primary until its late verdict says otherwise.
        if (v.ok) this.#bumpUncounted(ip, 1);
        resolve(v);
      }, this.replyTimeoutMs);
      this.#pending.set(id, (v) => {
        clearTimeout(timer);
        if (v.ok) this.#local.hold(ip);
        resolve(v);
      });
      try {
        process.send!({ type: "admit", id, ip } satisfies AdmitRequest);
      } catch {
        // The channel to the primary is closed: the timer decides locally.
      }
    });
  }

  release(ip: string): void {
    this.#local.release(ip);
    if (this.#bumpUncounted(ip, -1)) return;
    if (process.connected) process.send!({ type: "release", ip } satisfies ReleaseMessage);
  }

  /** The primary's verdict arrived after the worker had decided. Make the primary's count true again. */
  #reconcile(ip: string, localOk: boolean, primaryOk: boolean): void {
    if (!primaryOk) return;
    // The primary counted a connection: it exists (counted from now) or it does not (give it back).
    // A connection already closed was released locally only: give the primary's count back too.
    if (localOk && this.#bumpUncounted(ip, -1)) return;
    if (process.connected) process.send!({ type: "release", ip } satisfies ReleaseMessage);
  }

  /** Returns false when there was nothing to take away. */
  #bumpUncounted(ip: string, by: number): boolean {
    const n = (this.#uncounted.get(ip) ?? 0) + by;
    if (n < 0) return false;
    if (n === 0) this.#uncounted.delete(ip);
    else this.#uncounted.set(ip, n);
    return true;
  }
}

/** Late verdicts remembered at most: a primary stopped for good must not grow this without end. */
const MAX_LATE = 100_000;
