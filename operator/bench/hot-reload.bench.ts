/**
 * Hot-reload latency: ConfigMap update -> first reconcile on the new revision.
 *
 * On a private control plane, one operator runs a reconciler whose code logs a marker
 * naming its edit; each of EDITS edits replaces the ConfigMap (as `kubectl edit`
 * does) with a new marker, and we time from the update request to the first log
 * record carrying it (compile + type-check + sandbox load + revision recorded +
 * controller swap + reconcile). Prints p50/p95/max. Usage:
 *   node operator/bench/hot-reload.bench.ts [EDITS=40]
 */
import { ControlPlane } from "../testenv/controlplane.ts";
import { installCrds, kubeConfig } from "../testenv/index.ts";
import { KubeClient } from "../src/kube/client.ts";
import { Operator } from "../src/operator.ts";
import { LogBus } from "../src/telemetry/log.ts";

const edits = Number(process.argv[2] ?? 40);
const source = (marker: number) => ({
  "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
interface R extends Resource { spec: { message: string } }
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: R, ctx) {
    ctx.log.info("edit-${marker}");
    return {
      children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-message" }, data: { message: res.spec.message } }],
      status: { message: res.spec.message.toUpperCase() },
    };
  },
} satisfies Reconciler<R>;
`,
});

const cp = await ControlPlane.start();
try {
  await installCrds(cp.info);
  const client = KubeClient.fromKubeConfig(kubeConfig(cp.info));
  const bus = new LogBus({ stdout: false });
  const op = await Operator.start({ kubeConfig: kubeConfig(cp.info), namespace: "default", log: bus });
  const seen = new Map<string, number>();
  bus.subscribe({ text: "edit-" }, (r) => { if (!seen.has(r.message)) seen.set(r.message, performance.now()); });
  await client.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "bench", namespace: "default" }, spec: { message: "hi" } });
  let cm = await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "bench", namespace: "default", labels: { "chakrator.dev/reconciler": "true" } }, data: source(0) });
  const waitFor = async (marker: string) => { while (!seen.has(marker)) await new Promise((r) => setTimeout(r, 1)); return seen.get(marker)!; };
  await waitFor("edit-0");
  const samples: number[] = [];
  for (let i = 1; i <= edits; i++) {
    const t0 = performance.now();
    cm = await client.replace({ ...cm, data: source(i) });
    samples.push((await waitFor(`edit-${i}`)) - t0);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(0);
  console.log(`hot reload over ${edits} edits (ConfigMap update -> first reconcile on the new revision)`);
  console.log(`  p50 ${q(0.5)} ms   p95 ${q(0.95)} ms   max ${samples.at(-1)!.toFixed(0)} ms   min ${samples[0]!.toFixed(0)} ms`);
  await op.stop(1_000);
  client.close();
} finally {
  await cp.stop();
}
