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
import { loadavg } from "node:os";
import { join } from "node:path";
import { ControlPlane, freePort } from "../testenv/controlplane.ts";
import { eventually, installTestCrd, kubeConfig, pool } from "../testenv/index.ts";
import { KubeApiError, KubeClient } from "../src/kube/client.ts";

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
try {
  const admin = KubeClient.fromKubeConfig(kubeConfig(cp.info), { maxSockets: clients });
  const plain = await installTestCrd(cp.info, "BenchPlain");
  const guarded = await installTestCrd(cp.info, "BenchGuarded");
  await admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  for (const [name, kind, admission] of [["plain", plain.kind, false], ["guarded", guarded.kind, true]] as const) {
    await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: source(kind, admission) });
  }
  const editorPort = await freePort();
  child = spawn(process.execPath, [join(import.meta.dirname, "..", "src", "main.ts")], {
    env: {
      ...process.env, KUBECONFIG: cp.info.kubeconfig, CHAKRATOR_NAMESPACE: ns, CHAKRATOR_LISTEN: `127.0.0.1:${editorPort}`, CHAKRATOR_LEADER_ELECTION: "false",
      ...(process.env.BENCH_PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROF}` } : {}),
      CHAKRATOR_WEBHOOK_NAMESPACE: ns, CHAKRATOR_LOG_LEVEL: "warn", ...(process.env.BENCH_POOL ? { CHAKRATOR_SANDBOX_POOL: process.env.BENCH_POOL } : {}),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // Ready when the API server calls the webhook: a server dry run of an invalid object is refused.
  await eventually(async () => {
    try {
      await admin.request("POST", `/apis/test.chakrator.dev/v1/namespaces/${ns}/benchguardeds`, { query: { dryRun: "All" }, body: { ...guarded, metadata: { name: "probe", namespace: ns }, spec: { replicas: 99 } } });
      return false;
    } catch (err: unknown) {
      return err instanceof KubeApiError && /must be <= 10/.test(err.message);
    }
  }, 60_000, "the webhooks in use");

  const latencies = { plain: [] as number[], guarded: [] as number[] };
  let serial = 0;
  const round = async (which: "plain" | "guarded") => {
    const kind = which === "plain" ? plain : guarded;
    const names = Array.from({ length: perRound }, () => `${which}-${serial++}`);
    await pool(names, clients, async (name) => {
      const t0 = performance.now();
      const created = await admin.create({ ...kind, metadata: { name, namespace: ns }, spec: { replicas: 3 } });
      latencies[which].push(performance.now() - t0);
      if (which === "guarded" && (created.spec as { tier?: string }).tier !== "standard") throw new Error("mutate did not run");
    });
  };
  // One warm-up round each (isolates, connections), not counted.
  await round("plain");
  await round("guarded");
  latencies.plain.length = 0;
  latencies.guarded.length = 0;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    await round(i % 2 === 0 ? "plain" : "guarded");
    await round(i % 2 === 0 ? "guarded" : "plain");
  }
  const seconds = (performance.now() - started) / 1000;
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
    return { p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
  };
  const p = stats(latencies.plain), g = stats(latencies.guarded);
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`admission latency at the client: ${clients} concurrent clients, ${p.n + g.n} creates in ${seconds.toFixed(1)} s, rounds alternating (load average ${loadavg()[0]!.toFixed(1)})`);
  console.log(`                         p50 ms   p99 ms  mean ms`);
  console.log(`  no webhooks          ${f(p.p50)}  ${f(p.p99)}  ${f(p.mean)}   (${p.n} creates)`);
  console.log(`  validate + mutate    ${f(g.p50)}  ${f(g.p99)}  ${f(g.mean)}   (${g.n} creates)`);
  console.log(`  added by admission   ${f(g.p50 - p.p50)}  ${f(g.p99 - p.p99)}  ${f(g.mean - p.mean)}`);
  // The operator's own view: time from request received to answer sent, per call.
  const metrics = await (await fetch(`http://127.0.0.1:${editorPort}/metrics`)).text();
  for (const method of ["mutate", "validate"]) {
    const sum = Number(new RegExp(`chakrator_admission_duration_seconds_sum\\{reconciler="${ns}/guarded",method="${method}"\\} (\\S+)`).exec(metrics)?.[1]);
    const count = Number(new RegExp(`chakrator_admission_duration_seconds_count\\{reconciler="${ns}/guarded",method="${method}"\\} (\\S+)`).exec(metrics)?.[1]);
    console.log(`  in the operator: ${method} answered in ${((sum / count) * 1000).toFixed(2)} ms on average (${count} calls)`);
  }
  admin.close();
} finally {
  child?.kill("SIGTERM");
  if (child) await new Promise((resolve) => child!.once("exit", resolve));
  await cp.stop();
}
