/**
 * Memory: resident set size of each contender's whole process tree, first idle on an
 * empty namespace, then with N MyResources and their N child ConfigMaps in its caches,
 * all on one private control plane in the same run, each in a fresh namespace:
 *
 *   chakrator    the operator as the image runs it (its JavaScript built ahead of time, NODE_OPTIONS from the
 *                Containerfile): the operator, its sandbox host(s) and its compiler,
 *                summed from /proc/<pid>/status VmRSS over the process tree;
 *   cr-defaults  the controller-runtime peer (crpeer/main.go), default cache;
 *   cr-filtered  the same peer with Chakrator's filtering: children cached only with the
 *                owner label, managedFields stripped.
 *
 * Contenders run one at a time (order reversed on every other repetition); each
 * run's objects are deleted afterwards. Writes are counted from the API server's audit
 * log, so a reader sees that every contender did the same work.
 *
 * With CHAKRATOR_PROBE=1 each Chakrator process also reports its V8 heap by space and
 * process.memoryUsage() when idle (memory-probe.mjs, preloaded with --import; it adds
 * about 1 MiB per process). Usage:
 *   node operator/bench/memory.bench.ts [N=10000] [repetitions=1]
 * (N=0: only the idle figures, e.g. to compare Node flags through CHAKRATOR_NODE_OPTIONS;
 * CHAKRATOR_BENCH_ONLY=chakrator runs only the named contenders.)
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlane, freePort } from "../testenv/controlplane.ts";
import { installCrds, kubeConfig, pool } from "../testenv/index.ts";
import { KubeClient, type KubeObject } from "../src/kube/client.ts";
import { Informer } from "../src/kube/informer.ts";
import { auditArgs, childRole, clearNamespace, formatCounts, imageNodeOptions, installReconciler, startChakrator, treeFootprint, treeRss, writeCounts } from "./contenders.ts";
import { ensurePeer, startPeer, type PeerMode } from "./crpeer.ts";

const N = Number(process.argv[2] ?? 10_000);
const REPS = Number(process.argv[3] ?? 1);
const WORKERS = Number(process.env.CHAKRATOR_WORKERS ?? 32);
const PROBE = process.env.CHAKRATOR_PROBE === "1";
type Contender = "chakrator" | "cr-defaults" | "cr-filtered";
type Mr = KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } };
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const peerBin = await ensurePeer();
const workDir = mkdtempSync(join(tmpdir(), "chakrator-bench-"));
const audit = auditArgs(workDir);
const cp = await ControlPlane.start({ apiserverArgs: audit.args });
console.log(`chakrator NODE_OPTIONS: ${imageNodeOptions() || "(none)"}${PROBE ? " + the memory probe" : ""}`);
try {
  await installCrds(cp.info);
  const client = KubeClient.fromKubeConfig(kubeConfig(cp.info));
  const ready = new Set<string>();
  const watcher = new Informer(client, {
    apiVersion: "example.com/v1",
    kind: "MyResource",
    onEvent: (type, o) => {
      const key = `${o.metadata.namespace}/${o.metadata.name}`;
      if (type === "delete") ready.delete(key);
      else if ((o as Mr).status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ready.add(key);
    },
  });
  watcher.start();
  await watcher.synced;

  /** Names each process of a Chakrator tree by its role. */
  const role = (pid: number, root: number) => {
    return pid === root ? rootName : childRole(pid);
  };
  const describeTree = (root: number) => {
    const t = treeRss(root);
    const parts = new Map<string, number>();
    for (const p of t.byPid) parts.set(role(p.pid, root), (parts.get(role(p.pid, root)) ?? 0) + p.mib);
    const fp = treeFootprint(root);
    const anonParts = new Map<string, number>();
    for (const p of fp.byPid) anonParts.set(role(p.pid, root), (anonParts.get(role(p.pid, root)) ?? 0) + p.anon);
    const list = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v.toFixed(0)}`).join(" + ");
    return {
      total: t.total,
      footprint: fp.total,
      text: `${list(parts)}; footprint ${fp.total.toFixed(0)} MiB = anonymous ${fp.anon.toFixed(0)} (${list(anonParts)}) + files once ${fp.files.toFixed(0)}`,
    };
  };

  const probe = async (root: number) => {
    const dir = join(workDir, "probe");
    const pids = treeRss(root).byPid.map((p) => p.pid);
    for (const pid of pids) process.kill(pid, "SIGUSR2");
    await sleep(1_000);
    for (const pid of pids) {
      const file = join(dir, `${pid}.json`);
      if (!existsSync(file)) { console.log(`             ${role(pid, root)} (pid ${pid}): no probe report`); continue; }
      const r = JSON.parse(readFileSync(file, "utf8")) as { memory: NodeJS.MemoryUsage; spaces: Array<{ name: string; used: number; size: number }>; heap: { malloced_memory: number; external_memory: number }; modules: Record<string, { files: number; bytes: number }> };
      const m = r.memory;
      console.log(`             ${role(pid, root)}: rss ${(m.rss / MiB).toFixed(1)} | V8 heap total ${(m.heapTotal / MiB).toFixed(1)} used ${(m.heapUsed / MiB).toFixed(1)} | external ${(m.external / MiB).toFixed(1)} (array buffers ${(m.arrayBuffers / MiB).toFixed(1)}) | malloced by V8 ${(r.heap.malloced_memory / MiB).toFixed(1)} MiB`);
      console.log(`               spaces (used/size MiB): ${r.spaces.filter((s) => s.size > 0).map((s) => `${s.name.replace(/_space$/, "")} ${(s.used / MiB).toFixed(1)}/${(s.size / MiB).toFixed(1)}`).join(", ")}`);
      console.log(`               source loaded (files, MiB): ${Object.entries(r.modules).slice(0, 10).map(([k, v]) => `${k} ${v.files} ${(v.bytes / MiB).toFixed(2)}`).join(", ")}`);
    }
  };

  const launch = async (who: Contender, ns: string) => {
    if (who === "chakrator") {
      await installReconciler(client, ns);
      const env: Record<string, string> = PROBE ? { NODE_OPTIONS: `${imageNodeOptions()} --import=${join(import.meta.dirname, "memory-probe.mjs")}`.trim(), CHAKRATOR_PROBE_DIR: join(workDir, "probe") } : {};
      if (PROBE) mkdirSync(join(workDir, "probe"), { recursive: true });
      const p = startChakrator({ kubeconfig: cp.info.kubeconfig, namespace: ns, port: await freePort(), workers: WORKERS, env });
      await p.active();
      return { pid: p.process.pid!, process: p.process, stop: p.stop, reconciles: () => p.metric("chakrator_reconciles_total") };
    }
    const port = await freePort();
    const p = startPeer(peerBin, { kubeconfig: cp.info.kubeconfig, namespace: ns, mode: who.slice(3) as PeerMode, workers: WORKERS, metricsPort: port });
    // Caches synced once the controller reports its workers.
    while ((await p.metric("controller_runtime_max_concurrent_reconciles")) < 1) {
      if (p.process.exitCode !== null) throw new Error(`${who} exited (${p.process.exitCode})`);
      await sleep(100);
    }
    return { pid: p.process.pid!, process: p.process, stop: p.stop, reconciles: () => p.metric("controller_runtime_reconcile_total") };
  };

  let rootName = "operator";
  type Figure = { empty: number; full: number; emptyFootprint: number; fullFootprint: number; warm?: number; warmFootprint?: number };
  const figures: Record<Contender, Figure[]> = { chakrator: [], "cr-defaults": [], "cr-filtered": [] };
  const run = async (who: Contender, rep: number) => {
    const ns = `mem-${who}-${rep}`;
    await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    rootName = who === "chakrator" ? "operator" : "crpeer";
    const c = await launch(who, ns);
    await sleep(5_000);
    let empty = describeTree(c.pid);
    const warm = empty;
    console.log(`${who.padEnd(12)} empty namespace, idle:       RSS ${empty.total.toFixed(0).padStart(4)} MiB (${empty.text})`);
    if (PROBE && who === "chakrator") await probe(c.pid);
    if (who === "chakrator") {
      // The compiler exits after a minute without work (reconcilers/compile-process.ts):
      // the steady idle state is without it.
      const deadline = Date.now() + 90_000;
      while (treeRss(c.pid).byPid.some((p) => role(p.pid, c.pid) === "compiler") && Date.now() < deadline) await sleep(1_000);
      await sleep(2_000);
      empty = describeTree(c.pid);
      console.log(`${who.padEnd(12)} idle, compiler exited:       RSS ${empty.total.toFixed(0).padStart(4)} MiB (${empty.text})`);
    }
    const warmFigures = who === "chakrator" ? { warm: warm.total, warmFootprint: warm.footprint } : {};
    if (N === 0) {
      figures[who].push({ empty: empty.total, full: empty.total, emptyFootprint: empty.footprint, fullFootprint: empty.footprint, ...warmFigures });
      await c.stop();
      return;
    }

    const t0 = performance.now();
    await pool(Array.from({ length: N }, (_, i) => i), 48, (i) =>
      client.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: `m-${i}`, namespace: ns }, spec: { message: `a message of moderate length, number ${i}` } }));
    const created = performance.now();
    const done = () => { let n = 0; for (const k of ready) if (k.startsWith(`${ns}/`)) n++; return n; };
    while (done() < N) {
      if (c.process.exitCode !== null) throw new Error(`${who} exited (${c.process.exitCode}) with ${N - done()} resources not Ready`);
      await sleep(500);
    }
    console.log(`${"".padEnd(12)} created ${N} in ${((created - t0) / 1000).toFixed(0)} s, all Ready ${((performance.now() - t0) / 1000).toFixed(0)} s after the first create`);
    let full = empty;
    for (const settle of [5, 30]) {
      await sleep(settle === 5 ? 5_000 : 25_000);
      full = describeTree(c.pid);
      console.log(`${who.padEnd(12)} ${N} + ${N} children, ${String(settle).padStart(2)} s after: RSS ${full.total.toFixed(0).padStart(4)} MiB (+${(full.total - empty.total).toFixed(0)}; ${full.text})`);
    }
    console.log(`${"".padEnd(12)} writes (audit log): ${formatCounts(writeCounts(audit.log).get(ns))} | reconciles (own metrics): ${await c.reconciles()}`);
    figures[who].push({ empty: empty.total, full: full.total, emptyFootprint: empty.footprint, fullFootprint: full.footprint, ...warmFigures });
    await c.stop();
    await clearNamespace(client, ns);
  };

  const all: Contender[] = ["chakrator", "cr-defaults", "cr-filtered"];
  // CHAKRATOR_BENCH_ONLY=chakrator (comma-separated) runs only those contenders.
  const order = all.filter((c) => !process.env.CHAKRATOR_BENCH_ONLY || process.env.CHAKRATOR_BENCH_ONLY.split(",").includes(c));
  for (let rep = 0; rep < REPS; rep++) {
    const thisOrder = rep % 2 === 0 ? order : [...order].reverse();
    console.log(`--- repetition ${rep + 1}/${REPS}: ${thisOrder.join(", ")} (${N} resources, ${WORKERS} workers each)`);
    for (const who of thisOrder) await run(who, rep);
  }
  const mean = (who: Contender, f: (x: Figure) => number) => figures[who].reduce((a, x) => a + f(x), 0) / figures[who].length;
  console.log(`--- means over ${REPS} repetition(s): total RSS of each contender's processes (targets for Chakrator: empty with the compiler idle <= 150 MiB, ${N} resources <= 250 MiB)`);
  for (const who of order) console.log(`${who.padEnd(12)} empty ${mean(who, (x) => x.empty).toFixed(0).padStart(4)} MiB | with ${N} resources + children ${mean(who, (x) => x.full).toFixed(0).padStart(4)} MiB${who === "chakrator" ? ` | empty with the compiler still alive ${mean(who, (x) => x.warm ?? 0).toFixed(0)} MiB` : ""}`);
  console.log(`--- footprint (anonymous memory of every process + each file's resident pages once: what the pod's memory cgroup is charged)`);
  for (const who of order) console.log(`${who.padEnd(12)} empty ${mean(who, (x) => x.emptyFootprint).toFixed(0).padStart(4)} MiB | with ${N} resources + children ${mean(who, (x) => x.fullFootprint).toFixed(0).padStart(4)} MiB${who === "chakrator" ? ` | empty with the compiler still alive ${mean(who, (x) => x.warmFootprint ?? 0).toFixed(0)} MiB` : ""}`);
  for (const peer of ["cr-defaults", "cr-filtered"] as const) {
    if (!order.includes(peer) || !order.includes("chakrator") || N === 0) continue;
    console.log(`ratio        chakrator/${peer}: empty ${(mean("chakrator", (x) => x.empty) / mean(peer, (x) => x.empty)).toFixed(1)}x, full ${(mean("chakrator", (x) => x.full) / mean(peer, (x) => x.full)).toFixed(1)}x, growth ${((mean("chakrator", (x) => x.full - x.empty)) / mean(peer, (x) => x.full - x.empty)).toFixed(2)}x (RSS); footprint empty ${(mean("chakrator", (x) => x.emptyFootprint) / mean(peer, (x) => x.emptyFootprint)).toFixed(1)}x, full ${(mean("chakrator", (x) => x.fullFootprint) / mean(peer, (x) => x.fullFootprint)).toFixed(1)}x`);
  }
  watcher.stop();
  client.close();
} catch (err: unknown) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cp.stop();
  rmSync(workDir, { recursive: true, force: true });
  // After a failure the watcher and contender may still hold the event loop.
  process.exit(process.exitCode === undefined ? 0 : Number(process.exitCode));
}
