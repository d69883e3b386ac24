// Process helpers shared by the scripts (start, local-cluster, fuzz, board-perf).
import { createServer } from "node:net";

/** A TCP port free on 127.0.0.1 right now; never 4222, where the machine's own NATS may listen. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => (port === 4222 ? freePort().then(resolve, reject) : resolve(port)));
    });
  });
}

/** Whether a started child (`{ proc }`) still runs. */
export const alive = (entry) => entry.proc.exitCode === null && entry.proc.signalCode === null && entry.proc.pid !== undefined;

/**
 * Signal a child's whole process group (it was spawned `detached`): `serve` is a cluster primary
 * with worker processes. Falls back to the child alone when it leads no group.
 */
export function signalGroup(entry, signal) {
  if (!alive(entry)) return;
  try {
    process.kill(-entry.proc.pid, signal);
  } catch {
    try {
      entry.proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
}
