/**
 * Throughput and latency for N MyResources (create -> status Ready), all contenders on
 * one private control plane in the same run, each run in fresh namespaces:
 *
 *   floor        the same API writes (child ConfigMap by server-side apply + status merge
 *                patch per resource) issued directly by a plain client, resources created
 *                beforehand, at two concurrencies; the best is what this control plane allows.
 *   chakrator    this operator as the image runs it (its JavaScript built ahead of time, its own
 *                process tree), reconciler samples/01-message in the sandbox.
 *   cr-defaults  the controller-runtime peer (crpeer/main.go), For + Owns, no predicates.
 *   cr-filtered  the same peer with Chakrator's own-write echo filtering and predicates.
 *   baseline     the seed's way, in this process (baseline-operator.ts); first repetition only.
 *
 * Both peers and Chakrator run the same number of concurrent reconciles
 * (CHAKRATOR_WORKERS, default 32). Contenders run one at a time, and the order is
 * reversed on every other repetition, so that neither side always runs on a fresher
 * or a fuller control plane; each run's objects are deleted afterwards.
 *
 * Two shapes: "backlog" (N resources exist, then the contender starts: the rate is N over
 * first-Ready..last-Ready, start-up reported apart) and "create" (the contender runs and
 * has made one warm-up resource Ready; N resources are created at once: end-to-end latency
 * per resource from its create to its Ready).
 *
 * Writes are counted from the API server's audit log (contenders.ts), the same way for
 * every contender; reconciles from each side's own metrics. CPU per resource (from
 * /proc) is printed start-up included and after the first Ready: on two shared cores the
 * second, with the API server's, is what bounds the backlog rate. Usage:
 *   node operator/bench/throughput.bench.ts [N=1000] [repetitions=2]
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlane, freePort } from "../testenv/controlplane.ts";
import { installCrds, kubeConfig, pool } from "../testenv/index.ts";
import { KubeClient, type KubeObject } from "../src/kube/client.ts";
import { Informer } from "../src/kube/informer.ts";
import { BaselineOperator, reconcileMessage } from "./baseline-operator.ts";
import { auditArgs, childRole, clearNamespace, formatCounts, installReconciler, processCpuMs, startChakrator, treePids, writeCounts } from "./contenders.ts";
import { ensurePeer, startPeer, type PeerMode } from "./crpeer.ts";

const N = Number(process.argv[2] ?? 1000);
const REPS = Number(process.argv[3] ?? 2);
const WORKERS = Number(process.env.CHAKRATOR_WORKERS ?? 32);
const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;
type Mr = KubeObject & { spec: { message: string }; status?: { conditions?: Array<{ type: string; status: string }> } };
type Contender = "chakrator" | "cr-defaults" | "cr-filtered";

const peerBin = await ensurePeer();
const auditDir = mkdtempSync(join(tmpdir(), "chakrator-bench-"));
const audit = auditArgs(auditDir);
const cp = await ControlPlane.start({ apiserverArgs: audit.args });
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
  const names = Array.from({ length: N }, (_, i) => `r-${i}`);
  const createOne = async (ns: string, name: string, message: string) => {
    await client.create({ ...mr, metadata: { name, namespace: ns }, spec: { message } });
    createdAt.set(`${ns}/${name}`, performance.now());
  };
  const createAll = async (ns: string) => {
    const t0 = performance.now();
    await pool(names, 32, (name) => createOne(ns, name, `message ${name}`));
    return t0;
  };
  /** Waits until every key is Ready; fails if the contender's process `proc` has exited meanwhile. */
  const untilReady = async (keys: string[], proc?: ChildProcess) => {
    while (!keys.every((k) => readyAt.has(k))) {
      if (proc && proc.exitCode !== null) throw new Error(`the contender exited (code ${proc.exitCode}) with ${keys.filter((k) => !readyAt.has(k)).length} resources not Ready`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return Math.max(...keys.map((k) => readyAt.get(k)!));
  };
  const allReady = (ns: string, proc?: ChildProcess) => untilReady(names.map((n) => `${ns}/${n}`), proc);
  /** Steady-state rate: N over the time from the first resource Ready to the last (start-up excluded). */
  const steady = (ns: string) => {
    const t = names.map((n) => readyAt.get(`${ns}/${n}`)!);
    return { rate: N / ((Math.max(...t) - Math.min(...t)) / 1000), first: Math.min(...t) };
  };
  const latencies = (ns: string) => names.map((n) => readyAt.get(`${ns}/${n}`)! - createdAt.get(`${ns}/${n}`)!).sort((a, b) => a - b);
  const pct = (l: number[], p: number) => l[Math.min(l.length - 1, Math.floor(l.length * p))]!;

  /** Starts one contender for `ns`; `reconciles()` reads its own count. */
  const launch = async (who: Contender, ns: string) => {
    if (who === "chakrator") {
      await installReconciler(client, ns);
      const p = startChakrator({ kubeconfig: cp.info.kubeconfig, namespace: ns, port: await freePort(), workers: WORKERS });
      return { process: p.process, stop: p.stop, reconciles: () => p.metric("chakrator_reconciles_total") };
    }
    const p = startPeer(peerBin, { kubeconfig: cp.info.kubeconfig, namespace: ns, mode: who.slice(3) as PeerMode, workers: WORKERS, metricsPort: await freePort() });
    return { process: p.process, stop: p.stop, reconciles: () => p.metric("controller_runtime_reconcile_total") };
  };

  interface Run { backlog: number; startup: number; create: number; p50: number; p95: number; reconciles: [number, number]; cpu: number; steadyCpu: number; serverCpu: number }
  // CPU time: on two shared cores the contender's own CPU per reconcile is CPU the API
  // server does not get, so it bounds the rate as much as the design does.
  /** The tree's CPU in ms, in all and by role (operator, sandbox host, compiler), for the log line. */
  const treeCpu = (pid: number) => {
    const parts = new Map<string, number>();
    for (const p of treePids(pid)) {
      const role = p === pid ? "operator" : childRole(p);
      const key = role === "operator" || role === "compiler" || role === "sandbox host" ? role : "other";
      parts.set(key, (parts.get(key) ?? 0) + processCpuMs(p));
    }
    return { total: [...parts.values()].reduce((a, ms) => a + ms, 0), parts };
  };
  const perResource = (parts: Map<string, number>, since = new Map<string, number>()) =>
    [...parts].map(([k, ms]) => [k, ms - (since.get(k) ?? 0)] as const).filter(([, ms]) => ms > 0).map(([k, ms]) => `${k} ${(ms / N).toFixed(2)}`).join(", ");
  const serverCpu = () => processCpuMs(cp.info.apiserverPid) + processCpuMs(cp.info.etcdPid);
  const runs: Record<Contender, Run[]> = { chakrator: [], "cr-defaults": [], "cr-filtered": [] };
  const floors: number[] = [];

  const runContender = async (who: Contender, rep: number) => {
    const ns = await namespace(`${who}-backlog-${rep}`);
    await createAll(ns);
    const t0 = performance.now();
    const server0 = serverCpu();
    const a = await launch(who, ns);
    // The tree's CPU when the first resource is Ready: what start-up cost (the compiler's
    // cold check, loading the sandbox), apart from the steady state the rate measures.
    while (!names.some((n) => readyAt.has(`${ns}/${n}`)) && a.process.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    const atFirst = treeCpu(a.process.pid!);
    await allReady(ns, a.process);
    await new Promise((r) => setTimeout(r, 1_000)); // let echoes of the last writes arrive (and cost what they cost)
    const backlogReconciles = await a.reconciles();
    const tree = treeCpu(a.process.pid!);
    const cpu = tree.total / N;
    const steadyCpu = (tree.total - atFirst.total) / N;
    const server = (serverCpu() - server0) / N;
    await a.stop();
    const { rate: backlog, first } = steady(ns);

    const ns2 = await namespace(`${who}-create-${rep}`);
    const b = await launch(who, ns2);
    await createOne(ns2, "warm-up", "warm-up");
    await untilReady([`${ns2}/warm-up`], b.process);
    const c0 = await createAll(ns2);
    const create = N / (((await allReady(ns2, b.process)) - c0) / 1000);
    await new Promise((r) => setTimeout(r, 1_000));
    const createReconciles = await b.reconciles();
    await b.stop();
    const l = latencies(ns2);
    const run: Run = { backlog, startup: first - t0, create, p50: pct(l, 0.5), p95: pct(l, 0.95), reconciles: [backlogReconciles, createReconciles - 1], cpu, steadyCpu, serverCpu: server };
    runs[who].push(run);
    const counts = writeCounts(audit.log);
    console.log(`${who.padEnd(12)} backlog ${backlog.toFixed(0).padStart(5)} resources/s (start-up ${run.startup.toFixed(0)} ms) | create ${create.toFixed(0).padStart(5)} resources/s, latency p50 ${run.p50.toFixed(0)} ms, p95 ${run.p95.toFixed(0)} ms, max ${l.at(-1)!.toFixed(0)} ms`);
    console.log(`${"".padEnd(12)} writes (audit log): backlog ${formatCounts(counts.get(ns))}; create ${formatCounts(counts.get(ns2))} (incl. warm-up) | reconciles (own metrics): ${backlogReconciles} + ${run.reconciles[1]}`);
    console.log(`${"".padEnd(12)} CPU per resource in the backlog (from /proc): the contender's processes ${cpu.toFixed(2)} ms (${perResource(tree.parts)}; start-up included), after the first Ready ${steadyCpu.toFixed(2)} ms (${perResource(tree.parts, atFirst.parts)}), API server + etcd ${server.toFixed(2)} ms`);
    await clearNamespace(client, ns);
    await clearNamespace(client, ns2);
  };

  const runFloor = async (rep: number) => {
    let best = 0;
    for (const c of [32, 96]) {
      const ns = await namespace(`floor-${c}-${rep}`);
      await createAll(ns);
      const list = await client.list<Mr>(mr.apiVersion, mr.kind, { namespace: ns });
      await pool(list.items, c, async (res) => {
        const { child, status } = reconcileMessage(res as never);
        await client.apply(child as KubeObject, { fieldManager: "floor", force: true });
        await client.patch(mr.apiVersion, mr.kind, res.metadata.name, ns, { status }, "merge", "status");
      });
      await allReady(ns);
      const r = steady(ns).rate;
      best = Math.max(best, r);
      console.log(`floor        concurrency ${String(c).padStart(3)}: ${r.toFixed(0).padStart(5)} resources/s | writes (audit log): ${formatCounts(writeCounts(audit.log).get(ns))}`);
      await clearNamespace(client, ns);
    }
    floors.push(best);
  };

  const order: Array<"floor" | Contender> = ["floor", "chakrator", "cr-defaults", "cr-filtered"];
  for (let rep = 0; rep < REPS; rep++) {
    const thisOrder = rep % 2 === 0 ? order : [...order].reverse();
    console.log(`--- repetition ${rep + 1}/${REPS}: ${thisOrder.join(", ")} (${N} resources, ${WORKERS} workers each)`);
    for (const who of thisOrder) {
      if (who === "floor") await runFloor(rep);
      else await runContender(who, rep);
    }
  }

  // Baseline, the seed's way, once: it cannot be stopped (the seed design exits the
  // process when its watch ends), so it runs last.
  let baseline: { backlog: number; create: number } | undefined;
  if (process.env.BENCH_BASELINE !== "0") {
    process.env.KUBECONFIG = cp.info.kubeconfig;
    const ns = await namespace("baseline-backlog");
    await createAll(ns);
    const op = new BaselineOperator(ns);
    await op.start();
    await allReady(ns);
    const backlog = steady(ns).rate;
    const ns2 = await namespace("baseline-create");
    await new BaselineOperator(ns2).start();
    const c0 = await createAll(ns2);
    const create = N / (((await allReady(ns2)) - c0) / 1000);
    const l = latencies(ns2);
    const counts = writeCounts(audit.log);
    console.log(`baseline     backlog ${backlog.toFixed(0).padStart(5)} resources/s | create ${create.toFixed(0).padStart(5)} resources/s, latency p50 ${pct(l, 0.5).toFixed(0)} ms, p95 ${pct(l, 0.95).toFixed(0)} ms`);
    console.log(`${"".padEnd(12)} writes (audit log): backlog ${formatCounts(counts.get(ns))}; create ${formatCounts(counts.get(ns2))}`);
    baseline = { backlog, create };
  }

  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const m = (who: Contender, f: (r: Run) => number) => mean(runs[who].map(f));
  const floor = mean(floors);
  console.log(`--- means over ${REPS} repetitions (${N} resources)`);
  for (const who of ["chakrator", "cr-defaults", "cr-filtered"] as const) {
    console.log(`${who.padEnd(12)} backlog ${m(who, (r) => r.backlog).toFixed(0).padStart(5)} resources/s (${((m(who, (r) => r.backlog) / floor) * 100).toFixed(0)}% of the floor's ${floor.toFixed(0)}) | create ${m(who, (r) => r.create).toFixed(0).padStart(5)} resources/s, p50 ${m(who, (r) => r.p50).toFixed(0)} ms, p95 ${m(who, (r) => r.p95).toFixed(0)} ms | start-up ${m(who, (r) => r.startup).toFixed(0)} ms | CPU per resource ${m(who, (r) => r.cpu).toFixed(2)} ms own (${m(who, (r) => r.steadyCpu).toFixed(2)} after the first Ready), ${m(who, (r) => r.serverCpu).toFixed(2)} ms API server + etcd`);
  }
  for (const peer of ["cr-defaults", "cr-filtered"] as const) {
    const ratio = (f: (r: Run) => number) => (m("chakrator", f) / m(peer, f)).toFixed(2);
    console.log(`ratio        chakrator/${peer}: backlog ${ratio((r) => r.backlog)}x, create ${ratio((r) => r.create)}x, p50 latency ${(m(peer, (r) => r.p50) / m("chakrator", (r) => r.p50)).toFixed(2)}x as fast${peer === "cr-filtered" ? " (target >= 1.00x)" : ""}`);
  }
  if (baseline) console.log(`ratio        chakrator/baseline: backlog ${(m("chakrator", (r) => r.backlog) / baseline.backlog).toFixed(1)}x, create ${(m("chakrator", (r) => r.create) / baseline.create).toFixed(1)}x`);
  watcher.stop();
  client.close();
} catch (err: unknown) {
  console.error(err);
  process.exitCode = 1;
} finally {
  // The baseline operators call process.exit(1) when their watch breaks as the control
  // plane stops; the figures are printed by then, so keep our own exit status.
  const exit = process.exit.bind(process);
  process.exit = (() => undefined) as typeof process.exit;
  await cp.stop();
  rmSync(auditDir, { recursive: true, force: true });
  exit(process.exitCode === undefined ? 0 : Number(process.exitCode));
}
