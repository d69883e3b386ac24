import cluster, { type Worker } from "node:cluster";
import type { Admission, Verdict } from "./admission.js";

type AdmitRequest = { type: "admit"; id: number; ip: string };
type ReleaseMessage = { type: "release"; ip: string };
type AdmitReply = { type: "admitted"; id: number; verdict: Verdict };

/** How long a worker waits for the primary's verdict before letting the connection in. */
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

/** Worker side: ask the primary; one round trip per new connection, never per quote. */
export class AdmissionClient {
  readonly #pending = new Map<number, (v: Verdict) => void>();
  #nextId = 1;
  timeouts = 0;

  constructor() {
    process.on("message", (msg: AdmitReply) => {
      if (msg?.type !== "admitted") return;
      const resolve = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      resolve?.(msg.verdict);
    });
  }

  admit(ip: string): Promise<Verdict> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // A primary too busy to answer must not take serving down with it: let the client in.
        this.#pending.delete(id);
        this.timeouts++;
        resolve({ ok: true });
      }, REPLY_TIMEOUT_MS);
      this.#pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      process.send!({ type: "admit", id, ip } satisfies AdmitRequest);
    });
  }

  release(ip: string): void {
    if (process.connected) process.send!({ type: "release", ip } satisfies ReleaseMessage);
  }
}
