// Free TCP ports, for every process the tests, the scripts and the bench start.
// One home: test/helpers, bench/lib and scripts/*.mjs all draw their ports here.
import { createServer } from "node:net";

/** The shared development NATS server's port: never handed out. */
export const SHARED_NATS_PORT = 4222;

/**
 * A port that was free on 127.0.0.1 a moment ago (listen on 0, close); never 4222.
 * Two calls in a row can return the same port (83 pairs in 500 while a bench run's 28,000
 * connections waited in TIME_WAIT, none on a quiet machine): draw several with freePorts().
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => {
        if (port > 0 && port !== SHARED_NATS_PORT) resolve(port);
        else freePort().then(resolve, reject);
      });
    });
  });
}

/**
 * `n` different ports, none of them in `besides`, each free on 127.0.0.1 a moment ago.
 * @param {number} n
 * @param {readonly number[]} [besides]
 * @returns {Promise<number[]>}
 */
export async function freePorts(n, besides = []) {
  /** @type {number[]} */
  const ports = [];
  while (ports.length < n) {
    const port = await freePort();
    if (!ports.includes(port) && !besides.includes(port)) ports.push(port);
  }
  return ports;
}
