/**
 * Memory: resident set size of the operator process (and, apart, of its sandbox host
 * child) with N MyResources and their N child ConfigMaps in its caches, against the same
 * process with an empty cluster measured in the same run.
 *
 * The operator runs as it does in production (`node operator/src/main.ts`) against a
 * private control plane; RSS comes from /proc. Usage:
 *   node operator/bench/memory.bench.ts [N=10000]
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ControlPlane, freePort } from "../testenv/controlplane.ts";
import { installCrds, kubeConfig, pool, sampleSource } from "../testenv/index.ts";
import { KubeClient } from "../src/kube/client.ts";

const N = Number(process.argv[2] ?? 10_000);
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);


const cp = await ControlPlane.start();
const port = await freePort();
// The image's V8 flags (Containerfile NODE_OPTIONS), unless OPERATOR_NODE_FLAGS says otherwise.
const imageFlags = /NODE_OPTIONS="([^"]*)"/.exec(readFileSync(join(import.meta.dirname, "..", "..", "Containerfile"), "utf8"))?.[1] ?? "";
const flags = (process.env.OPERATOR_NODE_FLAGS ?? imageFlags).split(" ").filter(Boolean);
console.log(`operator flags: ${flags.join(" ") || "(none)"}`);
const op = spawn(process.execPath, [...flags, join(import.meta.dirname, "..", "src", "main.ts")], {
  env: { ...process.env, KUBECONFIG: cp.info.kubeconfig, CHAKRATOR_NAMESPACE: "default", CHAKRATOR_LISTEN: `127.0.0.1:${port}`, CHAKRATOR_LOG_LEVEL: "warn" },
  stdio: ["ignore", "ignore", "inherit"],
});
try {
  await installCrds(cp.info);
  const client = KubeClient.fromKubeConfig(kubeConfig(cp.info));
  await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace: "default", labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
  const metric = async (name: string) => {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
    return text.split("\n").filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(" ").at(-1)), 0);
  };
  while ((await metric("chakrator_active_revision")) < 1) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 3_000));
  const empty = { op: rssMiB(op.pid!), host: childrenOf(op.pid!).reduce((a, p) => a + rssMiB(p), 0) };
  console.log(`empty cluster:       operator RSS ${empty.op.toFixed(0)} MiB, its children (sandbox host, compiler) ${empty.host.toFixed(0)} MiB`);

  const t0 = performance.now();
  await pool(Array.from({ length: N }, (_, i) => i), 48, (i) =>
    client.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: `m-${i}`, namespace: "default" }, spec: { message: `a message of moderate length, number ${i}` } }));
  console.log(`created ${N} resources in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  while ((await metric("chakrator_reconciles_total")) < N) await new Promise((r) => setTimeout(r, 1_000));
  console.log(`all reconciled ${((performance.now() - t0) / 1000).toFixed(0)} s after the first create`);
  for (const settle of [5, 30]) {
    await new Promise((r) => setTimeout(r, settle === 5 ? 5_000 : 25_000));
    const full = { op: rssMiB(op.pid!), host: childrenOf(op.pid!).reduce((a, p) => a + rssMiB(p), 0) };
    console.log(`${N} resources + ${N} children cached, ${settle} s after: operator RSS ${full.op.toFixed(0)} MiB (+${(full.op - empty.op).toFixed(0)}), its children (sandbox host, compiler) ${full.host.toFixed(0)} MiB (target: operator under 300 MiB)`);
  }
  client.close();
} finally {
  op.kill("SIGTERM");
  await new Promise((r) => op.once("exit", r));
  await cp.stop();
}
