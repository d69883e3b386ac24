// Finding the nats-server binary, for the tests, the scripts and the bench alike.
import { accessSync, constants as fsConstants } from "node:fs";
import { delimiter, join } from "node:path";

/** What to tell a user who has no nats-server. */
export const NATS_INSTALL_HINT = [
  "Install nats-server, then run this again:",
  "  Debian/Ubuntu:  sudo apt-get install nats-server",
  "  macOS:          brew install nats-server",
  "  other:          a release from https://github.com/nats-io/nats-server/releases",
].join("\n");

/**
 * An executable named `name` on PATH, else in one of `extraDirs`; undefined when there is none.
 * @param {string} name
 * @param {readonly string[]} [extraDirs]
 * @returns {string | undefined}
 */
export function findExecutable(name, extraDirs = []) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Path of the nats-server binary: PATH first, then the usual install places (Debian puts it in
 * /usr/sbin, which is not on a user's PATH). Undefined when it is not installed.
 * @returns {string | undefined}
 */
export function findNatsServer() {
  return findExecutable("nats-server", ["/usr/sbin", "/usr/local/bin", "/usr/bin"]);
}

/**
 * The arguments of one nats-server, as every script, test and bench starts it: listening on
 * `host:port` (127.0.0.1 by default), JetStream on with its store in `storeDir` when one is given,
 * and, for a cluster node, its route address and the other nodes' routes.
 * @param {{
 *   port: number,
 *   host?: string,
 *   name?: string,
 *   storeDir?: string,
 *   monitorPort?: number,
 *   cluster?: { name: string, listen: string, routes: readonly string[] },
 * }} o
 * @returns {string[]}
 */
export function natsServerArgs(o) {
  const args = ["-a", o.host ?? "127.0.0.1", "-p", String(o.port)];
  if (o.monitorPort !== undefined) args.push("-m", String(o.monitorPort));
  if (o.name !== undefined) args.push("--server_name", o.name);
  if (o.storeDir !== undefined) args.push("-js", "-sd", o.storeDir);
  if (o.cluster !== undefined) {
    args.push("--cluster_name", o.cluster.name, "--cluster", o.cluster.listen, "--routes", o.cluster.routes.join(","));
  }
  return args;
}
