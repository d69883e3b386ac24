import type { RejectReason } from "../metrics/worker-metrics.js";

/**
 * The admission port: what the subscription route asks before it opens a connection, and the
 * answer. http owns it (it is the one that asks); the cluster implements it, in the primary
 * (src/cluster/admission.ts) and over IPC from each worker, so http never imports the cluster.
 */
export type Verdict = { ok: true } | { ok: false; reason: RejectReason; retryAfterSeconds: number };

/** Decides, for the whole server, whether a new connection may open. */
export interface AdmissionGate {
  admit(ip: string): Promise<Verdict>;
  release(ip: string): void;
}
