/**
 * Admission latency: what `validate` + `mutate` webhooks add to a create, measured at
 * the client.
 *
 * On a private control plane, the operator runs as its own process (`main.ts`, as in
 * a pod) with two reconcilers of the same shape: one for kind BenchGuarded exporting
 * `validate` and `mutate` (so the API server calls both webhooks on every create), one
 * for kind BenchPlain without them. 50 clients create objects concurrently; rounds
 * alternate plain / guarded so both see the same machine load, and every object is
 * also reconciled (status written) in both cases. Prints p50 / p99 / mean per kind
 * and the difference, which is the admission cost. Usage:
 *   node operator/bench/admission.bench.ts [PER_ROUND=300] [ROUNDS=4] [CLIENTS=50]
 * (BENCH_POOL=n sets the operator's CHAKRATOR_SANDBOX_POOL; BENCH_PROF=dir writes CPU
 * profiles of the operator, its sandbox hosts and its compiler into dir.)
 */
import { spawn } from "node:child_process";
import { connect } from "node:http2";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ControlPlane, freePort } from "../testenv/controlplane.ts";
import { eventually, installTestCrd, kubeConfig, pool } from "../testenv/index.ts";
import { KubeApiError, KubeClient, type KubeObject } from "../src/kube/client.ts";
import { childRole, processCpuMs, treePids } from "./contenders.ts";

const perRound = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 4);
const clients = Number(process.argv[4] ?? 50);
const ns = "bench";

const source = (kind: string, admission: boolean) => ({
  "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
interface B extends Resource { spec: { replicas: number; tier?: string } }
export default {
  for: { apiVersion: "test.chakrator.dev/v1", kind: "${kind}" },
  reconcile(res: B) { return { status: { tier: res.spec.tier ?? "none" } }; },
  ${admission ? `validate(obj: B) { return obj.spec.replicas <= 10 ? { allowed: true } : { allowed: false, message: "spec.replicas must be <= 10" }; },
  mutate(obj: B) { return { ...obj, spec: { ...obj.spec, tier: obj.spec.tier ?? "standard" } }; },` : ""}
} satisfies Reconciler<B>;
`,
});

const cp = await ControlPlane.start();
let child: ReturnType<typeof spawn> | undefined;
let floorServer: ReturnType<typeof spawn> | undefined;
try {
  const admin = KubeClient.fromKubeConfig(kubeConfig(cp.info), { maxSockets: clients });
  const plain = await installTestCrd(cp.info, "BenchPlain");
  const guarded = await installTestCrd(cp.info, "BenchGuarded");
  const floor = await installTestCrd(cp.info, "BenchFloor");
  await admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  for (const [name, kind, admission] of [["plain", plain.kind, false], ["guarded", guarded.kind, true], ["floor", floor.kind, false]] as const) {
    await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: source(kind, admission) });
  }
  const editorPort = await freePort();
  child = spawn(process.execPath, [join(import.meta.dirname, "..", "src", "main.ts")], {
    env: {
      ...process.env, KUBECONFIG: cp.info.kubeconfig, CHAKRATOR_NAMESPACE: ns, CHAKRATOR_LISTEN: `127.0.0.1:${editorPort}`, CHAKRATOR_LEADER_ELECTION: "false",
      // The reconcilers act as the operator (no per-reconciler RBAC here), as in the other benches.
      CHAKRATOR_IMPERSONATE: "false",
      ...(process.env.BENCH_PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROF}` } : {}),
      CHAKRATOR_WEBHOOK_NAMESPACE: ns, CHAKRATOR_LOG_LEVEL: "warn", ...(process.env.BENCH_POOL ? { CHAKRATOR_SANDBOX_POOL: process.env.BENCH_POOL } : {}),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // Ready when the API server calls a kind's webhook: a server dry run of an invalid object is refused.
  const refused = (kind: { apiVersion: string; kind: string }, what: string) => eventually(async () => {
    try {
      await admin.request("POST", `/apis/${kind.apiVersion}/namespaces/${ns}/${kind.kind.toLowerCase()}s`, { query: { dryRun: "All" }, body: { ...kind, metadata: { name: "probe", namespace: ns }, spec: { replicas: 99 } } });
      return false;
    } catch (err: unknown) {
      return err instanceof KubeApiError && /must be <= 10/.test(err.message);
    }
  }, 60_000, what);
  await refused(guarded, "the webhooks in use");

  // The floor: the same validate and mutate in a bare server of its own (admission-floor.mjs),
  // serving the operator's certificate, registered by hand for BenchFloor.
  const secret = (await admin.get("v1", "Secret", "chakrator-webhook-tls", ns)) as KubeObject & { data: Record<string, string> };
  const pem = (key: string) => Buffer.from(secret.data[key]!, "base64").toString();
  floorServer = spawn(process.execPath, [join(import.meta.dirname, "admission-floor.mjs")], { env: { ...process.env, NODE_OPTIONS: "", FLOOR_CERT: pem("tls.crt"), FLOOR_KEY: pem("tls.key") }, stdio: ["pipe", "pipe", "inherit"] });
  const floorPort = await new Promise<number>((resolve) => floorServer!.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
  for (const [kind, path] of [["ValidatingWebhookConfiguration", "validate"], ["MutatingWebhookConfiguration", "mutate"]] as const) {
    await admin.create({
      apiVersion: "admissionregistration.k8s.io/v1", kind, metadata: { name: `bench-floor-${path}` },
      webhooks: [{
        name: `${path}.floor.bench.chakrator.dev`, admissionReviewVersions: ["v1"], sideEffects: "None", failurePolicy: "Fail", timeoutSeconds: 3,
        clientConfig: { url: `https://127.0.0.1:${floorPort}/${path}`, caBundle: secret.data["ca.crt"] },
        rules: [{ apiGroups: ["test.chakrator.dev"], apiVersions: ["v1"], resources: ["benchfloors"], operations: ["CREATE", "UPDATE"], scope: "Namespaced" }],
      }],
    } as KubeObject);
  }
  await refused(floor, "the floor webhooks in use");

  const kinds = ["plain", "floor", "guarded"] as const;
  type Which = (typeof kinds)[number];
  const latencies: Record<Which, number[]> = { plain: [], floor: [], guarded: [] };
  // CPU time by component, per kind of round: on a saturated machine with a closed loop of
  // clients, the latency a webhook adds is about (CPU it adds per create) x clients / cores.
  const components = ["apiserver", "etcd", "operator", "sandbox hosts", "compiler", "floor server", "clients"] as const;
  const cpuNow = (): Record<(typeof components)[number], number> => {
    const self = process.cpuUsage();
    const out = { apiserver: processCpuMs(cp.info.apiserverPid), etcd: processCpuMs(cp.info.etcdPid), operator: 0, "sandbox hosts": 0, compiler: 0, "floor server": processCpuMs(floorServer!.pid!), clients: (self.user + self.system) / 1000 };
    for (const pid of child?.pid ? treePids(child.pid) : []) {
      const role = pid === child!.pid ? "operator" : childRole(pid);
      const part = role === "compiler" ? "compiler" : role === "sandbox host" ? "sandbox hosts" : "operator";
      out[part] += processCpuMs(pid);
    }
    return out;
  };
  const cpu = Object.fromEntries(kinds.map((k) => [k, Object.fromEntries(components.map((c) => [c, 0]))])) as Record<Which, Record<(typeof components)[number], number>>;
  let serial = 0;
  const round = async (which: Which) => {
    const kind = { plain, floor, guarded }[which];
    const names = Array.from({ length: perRound }, () => `${which}-${serial++}`);
    const before = cpuNow();
    await pool(names, clients, async (name) => {
      const t0 = performance.now();
      const created = await admin.create({ ...kind, metadata: { name, namespace: ns }, spec: { replicas: 3 } });
      latencies[which].push(performance.now() - t0);
      if (which !== "plain" && (created.spec as { tier?: string }).tier !== "standard") throw new Error(`mutate did not run (${which})`);
    });
    const after = cpuNow();
    for (const c of components) cpu[which][c] += after[c] - before[c];
  };
  // One warm-up round each (isolates, connections), not counted.
  for (const which of kinds) await round(which);
  for (const which of kinds) {
    latencies[which].length = 0;
    for (const c of components) cpu[which][c] = 0;
  }
  const started = performance.now();
  // Each repetition runs the three kinds in another order, so all see the same load.
  for (let i = 0; i < rounds; i++) for (let j = 0; j < kinds.length; j++) await round(kinds[(i + j) % kinds.length]!);
  const seconds = (performance.now() - started) / 1000;
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
    return { p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
  };
  const st = Object.fromEntries(kinds.map((k) => [k, stats(latencies[k])])) as Record<Which, ReturnType<typeof stats>>;
  const p = st.plain, fl = st.floor, g = st.guarded;
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`admission latency at the client: ${clients} concurrent clients, ${p.n + fl.n + g.n} creates in ${seconds.toFixed(1)} s, rounds in rotating order (load average ${loadavg()[0]!.toFixed(1)})`);
  console.log(`                                        p50 ms   p99 ms  mean ms`);
  console.log(`  no webhooks                         ${f(p.p50)}  ${f(p.p99)}  ${f(p.mean)}   (${p.n} creates)`);
  console.log(`  floor: bare server, same rules      ${f(fl.p50)}  ${f(fl.p99)}  ${f(fl.mean)}   (${fl.n} creates)`);
  console.log(`  Chakrator validate + mutate         ${f(g.p50)}  ${f(g.p99)}  ${f(g.mean)}   (${g.n} creates)`);
  console.log(`  added by the floor                  ${f(fl.p50 - p.p50)}  ${f(fl.p99 - p.p99)}  ${f(fl.mean - p.mean)}`);
  console.log(`  added by Chakrator (target p99 < 20) ${f(g.p50 - p.p50)}  ${f(g.p99 - p.p99)}  ${f(g.mean - p.mean)}`);
  console.log(`  Chakrator beyond the floor          ${f(g.p50 - fl.p50)}  ${f(g.p99 - fl.p99)}  ${f(g.mean - fl.mean)}`);
  const perCreate = (which: Which, c: (typeof components)[number]) => cpu[which][c] / latencies[which].length;
  const total = (which: Which) => components.reduce((a, c) => a + perCreate(which, c), 0);
  console.log(`  CPU ms per create (from /proc, 10 ms ticks; ${rounds} rounds of each):`);
  console.log(`    ${"".padEnd(12)}${components.map((c) => c.padStart(14)).join("")}         total`);
  for (const which of kinds) console.log(`    ${which.padEnd(12)}${components.map((c) => perCreate(which, c).toFixed(2).padStart(14)).join("")}${total(which).toFixed(2).padStart(14)}`);
  for (const which of ["floor", "guarded"] as const) {
    console.log(`    ${`${which} - plain`.padEnd(12)}${components.map((c) => (perCreate(which, c) - perCreate("plain", c)).toFixed(2).padStart(14)).join("")}${(total(which) - total("plain")).toFixed(2).padStart(14)}`);
  }
  console.log(`  (a closed loop on 2 cores: added latency ~ added CPU per create x ${clients} clients / 2 cores)`);
  // The operator's own view: time from request received to answer sent, per call.
  const metrics = await (await fetch(`http://127.0.0.1:${editorPort}/metrics`)).text();
  const reconciles = (name: string) => [...metrics.matchAll(new RegExp(`chakrator_reconciles_total\\{[^}]*reconciler="${ns}/${name}"[^}]*\\} (\\S+)`, "g"))].reduce((a, m) => a + Number(m[1]), 0);
  console.log(`  reconciles by the operator so far: ${kinds.map((k) => `${k} ${reconciles(k)}`).join(", ")}`);
  if (kinds.some((k) => reconciles(k) < st[k].n)) throw new Error("not every object was reconciled: the kinds did not do the same work");
  for (const method of ["mutate", "validate"]) {
    const sum = Number(new RegExp(`chakrator_admission_duration_seconds_sum\\{reconciler="${ns}/guarded",method="${method}"\\} (\\S+)`).exec(metrics)?.[1]);
    const count = Number(new RegExp(`chakrator_admission_duration_seconds_count\\{reconciler="${ns}/guarded",method="${method}"\\} (\\S+)`).exec(metrics)?.[1]);
    console.log(`  in the operator: ${method} answered in ${((sum / count) * 1000).toFixed(2)} ms on average (${count} calls)`);
  }

  // The part Chakrator owns, without the API server: reviews posted straight to the
  // webhook over one HTTP/2 connection (as the API server sends them), 16 in flight.
  type Hooks = KubeObject & { webhooks: Array<{ clientConfig: { url: string; caBundle: string } }> };
  const hooks = (await admin.list<Hooks>("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")).items.flatMap((c) => c.webhooks);
  const { url, caBundle } = hooks.find((h) => h.clientConfig.url.endsWith(`/${ns}/guarded`))!.clientConfig;
  const session = connect(new URL(url).origin, { ca: Buffer.from(caBundle, "base64").toString() });
  const direct = Number(process.env.BENCH_DIRECT ?? 4000);
  const reviewBody = (i: number) => JSON.stringify({
    apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
    request: { uid: `u-${i}`, operation: "CREATE", userInfo: { username: "admin", groups: ["system:masters"] }, dryRun: false, object: { ...guarded, metadata: { name: `d-${i}`, namespace: ns, creationTimestamp: null }, spec: { replicas: 3 } } },
  });
  const post = (path: string, body: string) => new Promise<string>((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/json" });
    let out = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (out += c));
    req.on("end", () => resolve(out));
    req.on("error", reject);
    req.end(body);
  });
  const mutatePath = new URL(url).pathname;
  const validatePath = mutatePath.replace("/mutate/", "/validate/");
  const before = cpuNow();
  const t0 = performance.now();
  await pool(Array.from({ length: direct }, (_, i) => i), 16, async (i) => {
    const answer = JSON.parse(await post(i % 2 === 0 ? mutatePath : validatePath, reviewBody(i))) as { response?: { allowed?: boolean } };
    if (answer.response?.allowed !== true) throw new Error(`direct review ${i} not allowed: ${JSON.stringify(answer)}`);
  });
  const ms = performance.now() - t0;
  const after = cpuNow();
  session.close();
  console.log(`  direct to the webhook (no API server; ${direct} reviews, half mutate, 16 in flight): ${(direct / ms * 1000).toFixed(0)} reviews/s; CPU ms per review: operator ${((after.operator - before.operator) / direct).toFixed(3)}, sandbox hosts ${((after["sandbox hosts"] - before["sandbox hosts"]) / direct).toFixed(3)}, this client ${((after.clients - before.clients) / direct).toFixed(3)}`);
  admin.close();
} finally {
  floorServer?.kill("SIGTERM");
  child?.kill("SIGTERM");
  if (child) await new Promise((resolve) => child!.once("exit", resolve));
  await cp.stop();
}
