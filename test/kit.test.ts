import t from "tap";
import { findExecutable, natsServerArgs } from "../scripts/lib/nats-binary.mjs";
import { freePorts, SHARED_NATS_PORT } from "../scripts/lib/ports.mjs";
import { childPids, descendants, waitFor } from "../scripts/lib/processes.mjs";

t.test("kit - freePorts draws distinct ports, none of those it is told to avoid, never 4222", async (t) => {
  for (let round = 0; round < 20; round++) {
    const avoid = await freePorts(3);
    const ports = await freePorts(8, avoid);
    t.equal(new Set(ports).size, 8, "distinct");
    t.same(ports.filter((p) => avoid.includes(p) || p === SHARED_NATS_PORT), [], "none of the avoided ones");
    if (t.passing() === false) break;
  }
});

t.test("kit - nats-server arguments for a lone server and for a cluster node", async (t) => {
  t.same(natsServerArgs({ port: 4300 }), ["-a", "127.0.0.1", "-p", "4300"]);
  t.same(natsServerArgs({ port: 4300, name: "n1", storeDir: "/tmp/js" }), [
    "-a", "127.0.0.1", "-p", "4300", "--server_name", "n1", "-js", "-sd", "/tmp/js",
  ]);
  t.same(
    natsServerArgs({
      port: 4301,
      monitorPort: 8301,
      name: "nats-1",
      storeDir: "/s",
      cluster: { name: "qc", listen: "nats://127.0.0.1:6301", routes: ["nats://127.0.0.1:6302", "nats://127.0.0.1:6303"] },
    }),
    [
      "-a", "127.0.0.1", "-p", "4301", "-m", "8301", "--server_name", "nats-1", "-js", "-sd", "/s",
      "--cluster_name", "qc", "--cluster", "nats://127.0.0.1:6301", "--routes", "nats://127.0.0.1:6302,nats://127.0.0.1:6303",
    ],
  );
});

t.test("kit - findExecutable looks on PATH, then in the extra directories", async (t) => {
  const saved = process.env.PATH;
  t.teardown(() => {
    process.env.PATH = saved;
  });
  process.env.PATH = "";
  t.equal(findExecutable("sh"), undefined, "nothing on an empty PATH");
  t.equal(findExecutable("sh", ["/nonexistent", "/bin"]), "/bin/sh");
  process.env.PATH = "/bin";
  t.equal(findExecutable("sh"), "/bin/sh");
  t.equal(findExecutable("no-such-program-here"), undefined);
});

t.test("kit - waitFor polls until the predicate holds, treats a throw as not yet, and names what timed out", async (t) => {
  let calls = 0;
  await waitFor(() => {
    calls++;
    if (calls < 3) throw new Error("not yet");
    return calls >= 4;
  }, 5_000, "four calls", 1);
  t.equal(calls, 4);
  await t.rejects(waitFor(() => false, 30, "the impossible", 5), /timed out after 30 ms waiting for the impossible/);
});

t.test("kit - children and descendants of this process come from /proc", { skip: process.platform !== "linux" && "Linux /proc" }, async (t) => {
  t.same(childPids(process.pid), [], "a test file starts no children here");
  t.ok(descendants(process.ppid).includes(process.pid), "this process descends from its parent");
});
