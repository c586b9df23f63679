/**
 * Throughput and latency for N MyResources (create -> status Ready), all contenders on
 * one private control plane in the same run, each in its own namespace:
 *
 *   floor      the same API writes (child ConfigMap by server-side apply + status merge
 *              patch per resource) issued directly by a plain client, resources created
 *              beforehand, at several concurrencies; the best is what this control plane
 *              allows.
 *   baseline   the seed's way: @dot-i/k8s-operator, logic in-process (baseline-operator.ts).
 *   chakrator  this operator, reconciler samples/01-message in the sandbox.
 *
 * Two shapes: "backlog" (N resources exist, then the contender starts: same writes as the
 * floor; the rate is N over first-Ready..last-Ready, start-up reported apart) and "create" (the contender runs, N resources are created at once: end-to-end
 * latency per resource from its create to its Ready). Usage:
 *   node operator/bench/throughput.bench.ts [N=1000]
 */
import { ControlPlane } from "../testenv/controlplane.ts";
import { installCrds, kubeConfig, pool, sampleSource } from "../testenv/index.ts";
import { KubeClient, type KubeObject } from "../src/kube/client.ts";
import { Informer } from "../src/kube/informer.ts";
import { Operator } from "../src/operator.ts";
import { LogBus } from "../src/telemetry/log.ts";
import { BaselineOperator, reconcileMessage } from "./baseline-operator.ts";

const N = Number(process.argv[2] ?? 1000);
const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;
type Mr = KubeObject & { spec: { message: string }; status?: { conditions?: Array<{ type: string; status: string }> } };


const cp = await ControlPlane.start();
const results: string[] = [];
try {
  await installCrds(cp.info);
  const client = KubeClient.fromKubeConfig(kubeConfig(cp.info));
  const createdAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const watcher = new Informer(client, {
    ...mr,
    onEvent: (_t, o) => {
      const key = `${o.metadata.namespace}/${o.metadata.name}`;
      if (!readyAt.has(key) && (o as Mr).status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) readyAt.set(key, performance.now());
    },
  });
  watcher.start();
  await watcher.synced;

  const namespace = async (name: string) => { await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } }); return name; };
  const createAll = async (ns: string) => {
    const t0 = performance.now();
    await pool(Array.from({ length: N }, (_, i) => i), 32, async (i) => {
      await client.create({ ...mr, metadata: { name: `r-${i}`, namespace: ns }, spec: { message: `message ${i}` } });
      createdAt.set(`${ns}/r-${i}`, performance.now());
    });
    return t0;
  };
  const allReady = async (ns: string) => {
    const keys = Array.from({ length: N }, (_, i) => `${ns}/r-${i}`);
    while (!keys.every((k) => readyAt.has(k))) await new Promise((r) => setTimeout(r, 20));
    return Math.max(...keys.map((k) => readyAt.get(k)!));
  };
  /** Steady-state rate: N over the time from the first resource Ready to the last (start-up excluded). */
  const steady = (ns: string) => {
    const t = Array.from({ length: N }, (_, i) => readyAt.get(`${ns}/r-${i}`)!);
    return { rate: N / ((Math.max(...t) - Math.min(...t)) / 1000), first: Math.min(...t) };
  };
  const latency = (ns: string) => {
    const l = Array.from({ length: N }, (_, i) => readyAt.get(`${ns}/r-${i}`)! - createdAt.get(`${ns}/r-${i}`)!).sort((a, b) => a - b);
    return `latency p50 ${l[Math.floor(N / 2)]!.toFixed(0)} ms, p95 ${l[Math.floor(N * 0.95)]!.toFixed(0)} ms, max ${l.at(-1)!.toFixed(0)} ms`;
  };
  const rate = (ms: number) => N / (ms / 1000);
  const report = (line: string) => { results.push(line); console.log(line); };

  // Floor: the writes alone.
  let floor = 0;
  for (const c of [8, 32, 96]) {
    const ns = await namespace(`floor-${c}`);
    await createAll(ns);
    const list = await client.list<Mr>(mr.apiVersion, mr.kind, { namespace: ns });
    await pool(list.items, c, async (res) => {
      const { child, status } = reconcileMessage(res as never);
      await client.apply(child as KubeObject, { fieldManager: "floor", force: true });
      await client.patch(mr.apiVersion, mr.kind, res.metadata.name, ns, { status }, "merge", "status");
    });
    await allReady(ns);
    const r = steady(ns).rate;
    floor = Math.max(floor, r);
    report(`floor      concurrency ${String(c).padStart(3)}: ${r.toFixed(0).padStart(5)} resources/s`);
  }

  // Baseline, the seed's way.
  {
    process.env.KUBECONFIG = cp.info.kubeconfig;
    const ns = await namespace("baseline-backlog");
    await createAll(ns);
    const op = new BaselineOperator(ns);
    const t0 = performance.now();
    await op.start();
    await allReady(ns);
    const { rate: backlog, first } = steady(ns);
    report(`baseline   start-up (start -> first Ready) ${(first - t0).toFixed(0)} ms`);
    // Not stopped: the seed design exits the process when its watch ends (even by stop()).
    const ns2 = await namespace("baseline-create");
    const op2 = new BaselineOperator(ns2);
    await op2.start();
    const c0 = await createAll(ns2);
    const create = rate((await allReady(ns2)) - c0);
    report(`baseline   backlog ${backlog.toFixed(0).padStart(5)} resources/s | create ${create.toFixed(0).padStart(5)} resources/s, ${latency(ns2)}`);
    results.push(`#baseline ${backlog} ${create}`);
  }

  // Chakrator.
  {
    const start = async (ns: string) => {
      // The seed sample without `finalize`: the contenders do the same writes (child + status), no finalizer.
      const files = sampleSource("01-message");
      files["reconciler.ts"] = files["reconciler.ts"]!.replace(/  finalize\(res, ctx\) \{[\s\S]*?\n  \},\n/, "");
      if (files["reconciler.ts"]!.includes("finalize(")) throw new Error("could not strip finalize from the sample");
      await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: files });
      return Operator.start({ kubeConfig: kubeConfig(cp.info), namespace: ns, log: new LogBus({ stdout: false }), workers: Number(process.env.CHAKRATOR_WORKERS ?? 32), sandbox: { poolSize: Number(process.env.CHAKRATOR_SANDBOX_POOL ?? 2) } });
    };
    const ns = await namespace("chakrator-backlog");
    await createAll(ns);
    const t0 = performance.now();
    const op = await start(ns);
    await allReady(ns);
    const { rate: backlog, first } = steady(ns);
    report(`chakrator  start-up (start -> first Ready, includes the cold compile) ${(first - t0).toFixed(0)} ms`);
    await op.stop(1_000);
    const ns2 = await namespace("chakrator-create");
    const op2 = await start(ns2);
    const c0 = await createAll(ns2);
    const create = rate((await allReady(ns2)) - c0);
    report(`chakrator  backlog ${backlog.toFixed(0).padStart(5)} resources/s | create ${create.toFixed(0).padStart(5)} resources/s, ${latency(ns2)}`);
    await op2.stop(1_000);
    const base = results.find((l) => l.startsWith("#baseline"))!.split(" ").map(Number);
    report(`ratios     chakrator/baseline: backlog ${(backlog / base[1]!).toFixed(1)}x, create ${(create / base[2]!).toFixed(1)}x (target >= 3x)`);
    report(`           chakrator/floor (backlog, same writes): ${((backlog / floor) * 100).toFixed(0)}% (target >= 70%)`);
  }
  watcher.stop();
  client.close();
} finally {
  // The baseline operators call process.exit(1) when their watch breaks as the control
  // plane stops; the figures are printed by then, so keep our own exit status.
  const exit = process.exit.bind(process);
  process.exit = (() => undefined) as typeof process.exit;
  await cp.stop();
  exit(0);
}
