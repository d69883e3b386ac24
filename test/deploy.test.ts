// deploy/ cannot run here (no Docker engine, no Kubernetes): these tests check what can be checked
// without them, against the code and a real server: the files parse, name the image, ports, probe
// paths, options and metrics that exist, and the compose topology is the one scripts/local-cluster runs.
import { readFileSync } from "node:fs";
import t from "tap";
import { parse, parseAllDocuments } from "yaml";
import { FEED_OPTIONS } from "../src/simulator/feed-config.js";
import { SERVE_DEFAULTS, SERVE_OPTIONS } from "../src/config/serve-config.js";
import { parseTrustedProxies } from "../src/http/client-address.js";
import { startNatsServer } from "./helpers/nats-server.js";
import { startQuotecast } from "./helpers/quotecast.js";

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
const pkg = JSON.parse(read("package.json")) as { version: string };
const topology = JSON.parse(read("deploy/topology.json")) as {
  nats: { name: string }[];
  quotecast: { name: string; nats: string[] }[];
  feed: { name: string; nats: string[] };
};
const compose = parse(read("deploy/docker-compose.yml"), { merge: true }) as { services: Record<string, Service> };
const k8s = parseAllDocuments(read("deploy/k8s/quotecast.yaml")).map((d) => d.toJS() as K8sObject);
const alerts = parse(read("deploy/prometheus/alerts.yml")) as { groups: { name: string; rules: { alert: string; expr: string; labels?: { severity?: string }; annotations?: { summary?: string } }[] }[] };
const dashboard = JSON.parse(read("deploy/grafana/quotecast.json")) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } };

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  stop_grace_period?: string;
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
}
interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const KNOWN_ENV = new Set<string>([...Object.values(SERVE_OPTIONS).map((o) => o.env), ...FEED_OPTIONS.map((o) => o.env), "NATS_URL", "NODE_ENV", "LOG_LEVEL"]);
const seconds = (s: string): number => Number(/^(\d+)s$/.exec(s)?.[1] ?? NaN);
const drainSeconds = SERVE_DEFAULTS.drainMs / 1000;
/** The primary SIGKILLs workers that have not finished draining this long after the drain window. */
const PRIMARY_MARGIN_S = 5;

t.test("deploy - every metric named by the dashboard, the alert rules and the autoscaler is exported by a real server", { timeout: 60_000 }, async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.cleanup());
  const qc = await startQuotecast({ nats: nats.url, args: ["--workers", "2"] });
  t.teardown(() => qc.stop());
  // Probe paths of the manifests answer on a real server.
  t.equal((await fetch(`${qc.base}/readyz`)).status, 200, "/readyz");
  t.equal((await fetch(`${qc.base}/healthz`)).status, 200, "/healthz");

  // /readyz answers once one worker serves; the primary's aggregation needs every worker up.
  let text = "";
  for (let i = 0; i < 100 && !text.includes("quotecast_connections"); i++) {
    text = await qc.metrics().catch(() => "");
    if (!text.includes("quotecast_connections")) await new Promise((r) => setTimeout(r, 100));
  }
  const exported = new Set(text.split("\n").filter((l) => l.startsWith("quotecast_")).map((l) => /^[a-z0-9_]+/.exec(l)![0]));
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)),
    ...dashboard.templating.list.map((v) => (typeof v.query === "string" ? v.query : "")),
    ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ...k8s.filter((o) => o.kind === "HorizontalPodAutoscaler").flatMap((o) => (o.spec.metrics as { pods?: { metric: { name: string } } }[]).map((m) => m.pods?.metric.name ?? "")),
  ];
  const named = new Set(exprs.flatMap((e) => e.match(/\bquotecast_[a-z0-9_]+/g) ?? []));
  t.ok(named.size >= 15, `${named.size} metrics named`);
  const missing = [...named].filter((m) => !exported.has(m));
  t.same(missing, [], "none missing from /metrics");
});

t.test("deploy - alert rules cover the failures operators must hear about", async (t) => {
  const rules = alerts.groups.flatMap((g) => g.rules);
  const by = (re: RegExp) => rules.filter((r) => re.test(r.expr));
  t.ok(by(/quotecast_nats_connected/).length > 0, "NATS disconnected");
  t.ok(by(/quotecast_slow_consumer_disconnects_total/).length > 0, "slow-consumer disconnect rate");
  t.ok(by(/quotecast_connections.*quotecast_max_connections/).length > 0, "connections near the cap");
  t.ok(by(/histogram_quantile\(0\.99,.*quotecast_publish_to_write_seconds_bucket/).length > 0, "publish-to-write p99");
  t.ok(by(/quotecast_worker_restarts_total/).length > 0, "worker restarts");
  for (const r of rules) t.ok(r.labels?.severity && r.annotations?.summary, `${r.alert} has a severity and a summary`);
});

t.test("deploy - the Kubernetes manifests parse and name the image, ports, probes and timings of the code", async (t) => {
  const kinds = k8s.map((o) => o.kind);
  for (const kind of ["Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress"]) t.ok(kinds.includes(kind), kind);
  const deployment = k8s.find((o) => o.kind === "Deployment")!;
  const pod = deployment.spec.template.spec;
  const c = pod.containers[0];
  t.equal(c.image, `quotecast/quotecast:${pkg.version}`, "the image compose builds, tagged with the package version");
  t.equal(c.image, compose.services["quotecast-1"]!.image);
  const ports = Object.fromEntries((c.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
  t.same(ports, { http: SERVE_DEFAULTS.port, metrics: SERVE_DEFAULTS.metricsPort }, "the server's default ports");
  const env = Object.fromEntries((c.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
  t.same(Object.keys(env).filter((k) => !KNOWN_ENV.has(k)), [], "only environment variables quotecast reads");
  t.equal(env.QUOTECAST_PORT, String(SERVE_DEFAULTS.port));
  t.same([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path], ["/readyz", "/healthz"]);
  t.equal(c.readinessProbe.httpGet.port, "http");
  const preStop = Number(c.lifecycle.preStop.exec.command[1]);
  const drain = Number(env.QUOTECAST_DRAIN_MS) / 1000;
  t.ok(pod.terminationGracePeriodSeconds > preStop + drain + PRIMARY_MARGIN_S, `grace ${pod.terminationGracePeriodSeconds} s > preStop ${preStop} s + drain ${drain} s + ${PRIMARY_MARGIN_S} s`);
  t.ok(pod.securityContext.runAsNonRoot, "non-root");
  const svc = k8s.find((o) => o.kind === "Service")!;
  t.same((svc.spec.ports as { targetPort: string }[]).map((p) => p.targetPort).sort(), ["http", "metrics"]);
  const ingress = k8s.find((o) => o.kind === "Ingress")!;
  const annotations = (ingress as unknown as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
  t.equal(annotations["nginx.ingress.kubernetes.io/proxy-buffering"], "off", "no proxy buffering");
  t.ok(Number(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > SERVE_DEFAULTS.heartbeatMs / 1000, "read timeout above the heartbeat");
  const hpa = k8s.find((o) => o.kind === "HorizontalPodAutoscaler")!;
  t.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  const pdb = k8s.find((o) => o.kind === "PodDisruptionBudget")!;
  t.same(pdb.spec.selector, deployment.spec.selector);

  const natsValues = parse(read("deploy/k8s/nats-values.yaml")) as { config: { cluster: { enabled: boolean; replicas: number }; jetstream: { enabled: boolean } } };
  t.same([natsValues.config.cluster.enabled, natsValues.config.cluster.replicas, natsValues.config.jetstream.enabled], [true, 3, true], "the official chart: a JetStream cluster of three");
});

t.test("deploy - docker-compose.yml runs the topology of scripts/local-cluster (deploy/topology.json)", async (t) => {
  const s = compose.services;
  const names = (list: { name: string }[]) => list.map((x) => x.name);
  t.same(Object.keys(s).filter((n) => n.startsWith("nats-")), names(topology.nats), "the NATS nodes");
  t.same(Object.keys(s).filter((n) => n.startsWith("quotecast-")), names(topology.quotecast), "the quotecast nodes");
  t.ok(s[topology.feed.name], "the feed");
  t.ok(s.lb, "a load balancer");
  /** nats://nats-2:4222,nats://nats-1:4222 → ["nats-2", "nats-1"] */
  const hosts = (urls: string) => urls.split(",").map((u) => new URL(u).hostname);
  for (const n of topology.nats) {
    const cmd = s[n.name]!.command!;
    t.ok(cmd.includes("-js"), `${n.name} has JetStream`);
    const routes = hosts(cmd[cmd.indexOf("--routes") + 1]!);
    t.same(routes.sort(), names(topology.nats).filter((x) => x !== n.name), `${n.name} routes to the other two`);
  }
  for (const q of topology.quotecast) {
    const svc = s[q.name]!;
    t.same(hosts(svc.environment!.NATS_URL!), q.nats, `${q.name} lists the NATS nodes in the topology's order, its own first`);
    t.same(Object.keys(svc.environment!).filter((k) => !KNOWN_ENV.has(k)), [], `${q.name}: only variables quotecast reads`);
    t.ok(seconds(svc.stop_grace_period!) > drainSeconds + PRIMARY_MARGIN_S, `${q.name}: stop_grace_period longer than the drain`);
    t.same(svc.command, ["serve"]);
  }
  const feed = s[topology.feed.name]!.command!;
  t.equal(feed[0], "feed");
  t.same(hosts(feed[feed.indexOf("--nats") + 1]!), topology.feed.nats, "the feed's NATS order");

  const nginx = read("deploy/nginx/quotecast.conf");
  t.ok(s.lb!.volumes!.some((v) => v.startsWith("./nginx/quotecast.conf:")), "the lb runs deploy/nginx/quotecast.conf");
  const upstreams = [...nginx.matchAll(/^\s*server (\S+):(\d+)/gm)].map((m) => [m[1], Number(m[2])]);
  t.same(upstreams, topology.quotecast.map((q) => [q.name, SERVE_DEFAULTS.port]), "nginx balances over the quotecast nodes");
  t.match(nginx, /proxy_buffering off;/);
  t.match(nginx, /proxy_read_timeout 1h;/);
});

t.test("deploy - Dockerfile: multi-stage, production dependencies only, non-root, Node receives the signals", async (t) => {
  const docker = read("deploy/Dockerfile");
  t.equal(docker.match(/^FROM /gm)?.length, 2, "two stages");
  t.match(docker, /npm prune --omit=dev/);
  const runtime = docker.slice(docker.lastIndexOf("\nFROM "));
  t.match(runtime, /^USER node$/m, "runs as the image's unprivileged user");
  t.match(runtime, /^ENTRYPOINT \["node", "dist\/cli\.js"\]$/m, "exec form: node is PID 1 and gets SIGTERM itself");
  t.match(runtime, new RegExp(`^EXPOSE ${SERVE_DEFAULTS.port} ${SERVE_DEFAULTS.metricsPort}$`, "m"));
});

t.test("deploy - systemd unit and sysctl settings for a node with 100k connections", async (t) => {
  const unit = read("deploy/quotecast.service");
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(unit)?.[1];
  const nofile = Number(value("LimitNOFILE"));
  t.ok(nofile >= 100_000 + 128, `LimitNOFILE ${nofile}`);
  t.equal(value("KillMode"), "mixed", "SIGTERM to the primary only, which drains the workers");
  t.ok(Number(value("TimeoutStopSec")) > drainSeconds + PRIMARY_MARGIN_S, "stop timeout longer than the drain");
  const envs = [...unit.matchAll(/^Environment=([A-Z_]+)=/gm)].map((m) => m[1]!);
  t.same(envs.filter((k) => !KNOWN_ENV.has(k)), [], "only variables quotecast reads");
  const sysctl = read("deploy/sysctl-quotecast.conf");
  const setting = (key: string) => Number(new RegExp(`^${key.replace(/\./g, "\\.")} = (\\d+)`, "m").exec(sysctl)?.[1]);
  t.ok(setting("fs.nr_open") >= nofile, "fs.nr_open allows LimitNOFILE");
  t.ok(setting("net.core.somaxconn") >= 4096, "accept queue for reconnect storms");
});

t.test("deploy - probes tolerate one slow answer, the pod meets Pod Security restricted, and Prometheus can reach it", async (t) => {
  const deployment = k8s.find((o) => o.kind === "Deployment")!;
  const pod = deployment.spec.template.spec;
  const c = pod.containers[0];
  t.ok(c.readinessProbe.failureThreshold >= 2, `readiness failureThreshold ${c.readinessProbe.failureThreshold}: one slow answer does not take the pod out`);
  t.ok(c.readinessProbe.timeoutSeconds >= 2, `readiness timeout ${c.readinessProbe.timeoutSeconds} s, above the 1 s default`);
  t.ok(c.livenessProbe.timeoutSeconds >= 2, "liveness timeout above the 1 s default");
  t.same(pod.securityContext.seccompProfile, { type: "RuntimeDefault" }, "seccomp RuntimeDefault");
  t.same([c.securityContext.allowPrivilegeEscalation, c.securityContext.capabilities.drop], [false, ["ALL"]]);

  const env = Object.fromEntries((c.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
  t.not(env.QUOTECAST_METRICS_HOST, undefined, "the metrics host is set: the default (loopback) cannot be scraped");
  t.notMatch(env.QUOTECAST_METRICS_HOST ?? "", /^127\.|^::1$|^localhost$/, "and not to loopback");
  t.equal(SERVE_DEFAULTS.metricsHost, "127.0.0.1", "while the default stays loopback");
  t.doesNotThrow(() => parseTrustedProxies((env.QUOTECAST_TRUST_PROXY ?? "").split(",")), `QUOTECAST_TRUST_PROXY ${env.QUOTECAST_TRUST_PROXY} parses`);
  t.match(env.QUOTECAST_TRUST_PROXY, /\/\d+/, "a range (the ingress controller's pods change address), not one address");
  const natsValues = parse(read("deploy/k8s/nats-values.yaml")) as { config: { cluster: { replicas: number } } };
  t.equal(Number(env.QUOTECAST_STREAM_REPLICAS), natsValues.config.cluster.replicas, "stream replicas set to the NATS cluster's size (the chart hides it with no_advertise)");

  const monitor = k8s.find((o) => o.kind === "PodMonitor");
  t.ok(monitor, "a PodMonitor");
  t.same(monitor!.spec.selector, deployment.spec.selector, "selects the quotecast pods");
  const portNames = (c.ports as { name: string }[]).map((p) => p.name);
  for (const e of monitor!.spec.podMetricsEndpoints as { port: string; path: string }[]) {
    t.ok(portNames.includes(e.port), `scrapes container port ${e.port}`);
    t.equal(e.path, "/metrics");
  }
  t.equal(deployment.spec.template.metadata.annotations["prometheus.io/port"], String(SERVE_DEFAULTS.metricsPort));
  t.match(read("deploy/k8s/quotecast.yaml"), /~3\.3 KB of RSS per idle connection/, "the memory comment quotes the measured figure");
});

t.test("deploy - compose: NATS health checked, quotecast and the feed start after it, metrics reachable", async (t) => {
  const s = compose.services;
  for (const n of topology.nats) t.ok(s[n.name]!.healthcheck?.test?.join(" ").includes(":8222/healthz"), `${n.name} has a healthcheck on its monitoring port`);
  for (const name of [...topology.quotecast.map((q) => q.name), topology.feed.name]) {
    const deps = s[name]!.depends_on as Record<string, { condition: string }>;
    t.same(Object.keys(deps).sort(), topology.nats.map((n) => n.name).sort(), `${name} depends on every NATS node`);
    t.ok(Object.values(deps).every((d) => d.condition === "service_healthy"), `${name}: condition service_healthy`);
  }
  for (const q of topology.quotecast) {
    const env = s[q.name]!.environment!;
    t.equal(env.QUOTECAST_METRICS_HOST, "0.0.0.0", `${q.name}: metrics published, so not on loopback`);
    t.equal(env.QUOTECAST_STREAM_REPLICAS, String(topology.nats.length));
    t.doesNotThrow(() => parseTrustedProxies(env.QUOTECAST_TRUST_PROXY!.split(",")));
  }
  const lbDeps = s.lb!.depends_on as Record<string, { condition: string }>;
  t.same(Object.keys(lbDeps).sort(), topology.quotecast.map((q) => q.name).sort());
});

t.test("deploy - sysctl: quotecast nodes reserve the service ports; the load balancer's lines live in their own file", async (t) => {
  const node = read("deploy/sysctl-quotecast.conf");
  const lb = read("deploy/sysctl-lb.conf");
  const value = (text: string, key: string) => new RegExp(`^${key.replace(/\./g, "\\.")} = (.+)$`, "m").exec(text)?.[1];
  t.equal(value(node, "net.ipv4.ip_local_port_range"), undefined, "no LB port range on quotecast nodes");
  t.equal(value(node, "net.ipv4.tcp_tw_reuse"), undefined);
  const reserved = (value(node, "net.ipv4.ip_local_reserved_ports") ?? "").split(",").map(Number);
  for (const port of [4222, 6222, 8222, SERVE_DEFAULTS.port, SERVE_DEFAULTS.metricsPort]) t.ok(reserved.includes(port), `port ${port} reserved`);
  t.match(value(lb, "net.ipv4.ip_local_port_range"), /^1024 65535$/);
  t.ok(value(lb, "net.ipv4.ip_local_reserved_ports"), "the LB reserves its own listening ports from its wide range");
  t.match(node, /asks for 512/, "the accept-backlog note states what uWS really asks for");
});

t.test("deploy - alerts: stalled feed, target down or absent, per-worker event-loop lag, the primary's own process", async (t) => {
  const rules = alerts.groups.flatMap((g) => g.rules);
  const by = (re: RegExp) => rules.filter((r) => re.test(r.expr));
  t.ok(by(/rate\(quotecast_quotes_received_total\[\w+\]\)\) == 0 and .*quotecast_connections.* > 0/).length > 0, "feed stalled while clients are connected");
  t.ok(by(/^up\{[^}]*\} == 0$/).length > 0, "up == 0");
  t.ok(by(/^absent\(up\{/).length > 0, "absent(up)");
  t.ok(by(/max by \(instance\) .*quotecast_eventloop_lag_p99_max_seconds/).length > 0, "per-worker maximum event-loop lag");
  t.ok(by(/quotecast_primary_/).length > 0, "the primary's process metrics");
});

t.test("deploy - Dockerfile: a current Node LTS on a Debian whose glibc loads its uWS build", async (t) => {
  const docker = read("deploy/Dockerfile");
  const froms = [...docker.matchAll(/^FROM node:(\d+)-(\w+)-slim/gm)].map((m) => [Number(m[1]), m[2]]);
  t.equal(froms.length, 2);
  for (const [major, distro] of froms) {
    t.ok((major as number) >= 22 && (major as number) % 2 === 0, `Node ${major}: an LTS line newer than 20 (end of life 2026-04-30)`);
    t.equal(distro, "trixie", "Debian 13 (glibc 2.41): the @btc-vision build needs glibc 2.38 or newer");
  }
  const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
  t.match(engines, new RegExp(`\\^${froms[0]![0]}\\.`), `engines (${engines}) includes the image's Node`);
});

t.test("deploy - every Kubernetes object validates against its API schema (kubernetes-models, prometheus-operator models)", async (t) => {
  // apiVersion/kind → the model class whose validate() checks an object against the OpenAPI schema.
  type Model = new (o: never) => { validate(): void };
  const models: Record<string, () => Promise<Model>> = {
    "apps/v1/Deployment": async () => (await import("kubernetes-models/apps/v1/Deployment")).Deployment as Model,
    "v1/Service": async () => (await import("kubernetes-models/v1/Service")).Service as Model,
    "networking.k8s.io/v1/Ingress": async () => (await import("kubernetes-models/networking.k8s.io/v1/Ingress")).Ingress as Model,
    "policy/v1/PodDisruptionBudget": async () => (await import("kubernetes-models/policy/v1/PodDisruptionBudget")).PodDisruptionBudget as Model,
    "autoscaling/v2/HorizontalPodAutoscaler": async () => (await import("kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler")).HorizontalPodAutoscaler as Model,
    "monitoring.coreos.com/v1/PodMonitor": async () => (await import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor")).PodMonitor as Model,
  };
  for (const o of k8s as (K8sObject & { apiVersion: string })[]) {
    const key = `${o.apiVersion}/${o.kind}`;
    const load = models[key];
    t.ok(load, `${key} has a schema here`);
    if (load === undefined) continue;
    const Cls = await load();
    t.doesNotThrow(() => new Cls(o as never).validate(), `${key} ${o.metadata.name} is valid`);
  }
  // And the check can fail: a probe period given as text is refused.
  const bad = structuredClone(k8s.find((x) => x.kind === "Deployment")!);
  bad.spec.template.spec.containers[0].readinessProbe.periodSeconds = "two";
  const { Deployment } = await import("kubernetes-models/apps/v1/Deployment");
  t.throws(() => new Deployment(bad as never).validate(), /periodSeconds must be integer/);
});
