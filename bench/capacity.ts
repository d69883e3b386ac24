// Scenario "capacity": per server, the most connections at which p99 publish→receive and the
// p99 visibility lag stay within flush-ms + 100 ms at a given feed rate. Connections rise step by step; a step fails
// when p99 goes over the limit, connections fail to open or get dropped, or the final values
// do not all arrive. Then the gap between the last step that passed and the one that failed is
// halved (to multiples of 250) until it is at most `resolution` connections: the most that
// passed is the capacity.

import type { ServerKind } from "./lib/servers.js";
import { runOne, type Figures, type RunSpec } from "./lib/run-one.js";

export const CAPACITY_STEPS = [500, 1000, 2000, 3000, 4000, 5000, 7500, 10_000, 14_000, 18_000];

export interface CapacityOptions {
  readonly servers: readonly ServerKind[];
  readonly steps: readonly number[];
  /** Bisection stops once the held and failed counts are this close (default 500). */
  readonly resolution?: number;
  readonly base: Omit<RunSpec, "server" | "connections" | "scenario">;
}

/**
 * Whether one step held: the figures of its run against the latency limit, which the age at
 * arrival and the visibility lag (where there is a feed to measure it by) must both meet.
 */
export function held(f: Figures, flushMs: number, connections: number): boolean {
  const visOk = typeof f.visP99Ms !== "number" || f.visP99Ms <= flushMs + 100;
  return typeof f.p99Ms === "number" && f.p99Ms <= flushMs + 100 && visOk && f.opened === connections && f.dropped === 0 && f.finalsOk !== false;
}

export async function runCapacity(
  o: CapacityOptions,
  record: (spec: RunSpec, f: Figures) => void,
  log: (s: string) => void,
): Promise<Map<ServerKind, number>> {
  const best = new Map<ServerKind, number>();
  const step = async (server: ServerKind, connections: number): Promise<boolean> => {
    const spec: RunSpec = { ...o.base, scenario: "capacity", server, connections };
    log(`  capacity ${server} ${connections} connections, feed ${spec.rate}/s, flush ${spec.flushMs} ms`);
    let f: Figures;
    try {
      f = await runOne(spec, log);
    } catch (err) {
      f = { error: (err as Error).message.split("\n")[0]! };
    }
    f.held = held(f, spec.flushMs, connections);
    record(spec, f);
    log(`    p99 ${f.p99Ms} ms, visibility lag p99 ${f.visP99Ms ?? "–"} ms, ${f.framesPerSec} frames/s: ${f.held ? "held" : "not held"}`);
    return f.held;
  };
  for (const server of o.servers) {
    let good = 0;
    let bad: number | undefined;
    for (const connections of o.steps) {
      if (!(await step(server, connections))) {
        bad = connections;
        break;
      }
      good = connections;
    }
    while (good > 0 && bad !== undefined) {
      const mid = nextProbe(good, bad, o.resolution ?? 500);
      if (mid === undefined) break;
      if (await step(server, mid)) good = mid;
      else bad = mid;
    }
    best.set(server, good);
  }
  return best;
}

/** The count to try between one that held and one that failed, or none once they are close enough. */
export function nextProbe(good: number, bad: number, resolution: number): number | undefined {
  if (bad - good <= resolution) return undefined;
  const mid = Math.round((good + bad) / 2 / 250) * 250;
  return mid > good && mid < bad ? mid : undefined;
}
