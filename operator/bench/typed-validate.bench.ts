/**
 * Benchmark of typed children and IntelliSense: a reconciler owning ConfigMap,
 * Deployment and Service, typed from the real API server's OpenAPI v3. Prints figures
 * only, no assertions.
 *
 *   node operator/bench/typed-validate.bench.ts
 *
 * Cases, each after warm-up, one-character edits each time so nothing is cached:
 * - warm validate in-process (ReconcilerCompiler with the three kinds' typings);
 * - the same untyped (no kind typings: the loose Child), for the difference;
 * - warm validate through the compiler process as the operator runs it
 *   (KindAwareCompiler: kinds looked up, versions sent, IPC);
 * - completion at `res.spec.` and inside the Deployment's container, server-side
 *   (KindAwareCompiler.language, what POST /api/intellisense/completions waits for);
 * - the cold start: reading and generating the three group-versions.
 */
import { performance } from "node:perf_hooks";
import { eventually, installCrds, kubeConfig, testCluster } from "../testenv/index.ts";
import { KubeClient } from "../src/kube/client.ts";
import { OpenApiReader } from "../src/kube/openapi.ts";
import { ReconcilerCompiler, type LanguageRequest } from "../src/reconcilers/compile.ts";
import { KindAwareCompiler } from "../src/reconcilers/kinds-compiler.ts";
import { KindTypings } from "../src/reconcilers/kinds.ts";

const ROUNDS = 60;

const source = (n: number) => `import type { Reconciler } from "chakrator";

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }, { apiVersion: "apps/v1", kind: "Deployment" }, { apiVersion: "v1", kind: "Service" }],
  reconcile(res, ctx) {
    const name = res.metadata.name;
    const labels = { app: name, edit: "${n}" };
    ctx.log.info("reconciling", { name });
    return {
      children: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: \`\${name}-html\`, labels }, data: { "index.html": res.spec.message } },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name, labels },
          spec: {
            replicas: res.spec.replicas ?? 1,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                containers: [{ name: "web", image: "nginx:1.27", imagePullPolicy: "IfNotPresent", ports: [{ name: "http", containerPort: 8080 }],
                  resources: { limits: { cpu: "100m", memory: "64Mi" } }, readinessProbe: { httpGet: { path: "/", port: "http" } } }],
              },
            },
          },
        },
        { apiVersion: "v1", kind: "Service", metadata: { name, labels }, spec: { selector: labels, ports: [{ port: 80, targetPort: "http" }] } },
      ],
      status: { message: res.spec.message.toUpperCase() },
    };
  },
} satisfies Reconciler;
`;

function stats(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `p50 ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms (n=${s.length})`;
}

async function time(rounds: number, fn: (i: number) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

const info = await testCluster();
await installCrds(info);
const client = KubeClient.fromKubeConfig(kubeConfig(info));
const kinds = new KindTypings(new OpenApiReader(client));

// A CRD reaches /openapi/v3 a moment after it is Established.
await eventually(async () => (await new OpenApiReader(client, { ttlMs: 0, minRefreshMs: 0 }).document("example.com/v1")) !== undefined, 30_000, "example.com/v1 in /openapi/v3");
let t = performance.now();
const { modules, known } = await kinds.modulesFor({ "reconciler.ts": source(0) });
console.log(`kind typings, cold: ${modules.map((m) => `${m.apiVersion} (${(m.text.length / 1024).toFixed(0)} KiB)`).join(", ")} read and generated in ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
await kinds.modulesFor({ "reconciler.ts": source(1) });
console.log(`kind typings, warm lookup: ${(performance.now() - t).toFixed(2)} ms`);

const typed = new ReconcilerCompiler();
typed.setKinds(modules, known);
t = performance.now();
const first = typed.compile({ "reconciler.ts": source(0) });
console.log(`in-process, cold compile with typings: ${(performance.now() - t).toFixed(0)} ms (ok: ${first.ok})`);
if (!first.ok || modules.length !== 3) throw new Error(`the benchmark source must compile with 3 group-versions: ${JSON.stringify(first.diagnostics)}`);
await time(15, (i) => typed.compile({ "reconciler.ts": source(1000 + i) }));
console.log(`in-process warm validate, typed children of 3 kinds: ${stats(await time(ROUNDS, (i) => typed.compile({ "reconciler.ts": source(i) })))}`);

const loose = new ReconcilerCompiler();
await time(15, (i) => loose.compile({ "reconciler.ts": source(1000 + i) }));
console.log(`in-process warm validate, untyped (loose Child): ${stats(await time(ROUNDS, (i) => loose.compile({ "reconciler.ts": source(i) })))}`);

const proc = new KindAwareCompiler({ kinds });
t = performance.now();
await proc.compile({ "reconciler.ts": source(0) }, { lane: "editor" });
console.log(`compiler process, first validate (spawn, typings sent): ${(performance.now() - t).toFixed(0)} ms`);
const viaProcess = await proc.compile({ "reconciler.ts": source(1) }, { lane: "editor" });
if (!viaProcess.ok) throw new Error(`the compiler process refused the benchmark source: ${JSON.stringify(viaProcess.diagnostics)}`);
await time(15, (i) => proc.compile({ "reconciler.ts": source(2000 + i) }, { lane: "editor" }));
console.log(`compiler process warm validate, typed children of 3 kinds: ${stats(await time(ROUNDS, (i) => proc.compile({ "reconciler.ts": source(3000 + i) }, { lane: "editor" })))}`);

const complete = (text: string, needle: string, at: number): LanguageRequest => ({ op: "completions", files: { "reconciler.ts": text }, file: "reconciler.ts", pos: text.indexOf(needle) + at });
await time(10, (i) => proc.language(complete(source(i).replace("res.spec.message.toUpperCase()", "res.spec."), "res.spec.", 9)));
console.log(`completion at res.spec., server-side: ${stats(await time(ROUNDS, (i) => proc.language(complete(source(4000 + i).replace("res.spec.message.toUpperCase()", "res.spec."), "res.spec.", 9))))}`);
console.log(`completion in a Deployment container, server-side: ${stats(await time(ROUNDS, (i) => proc.language(complete(source(5000 + i).replace('name: "web", ', ""), "{ image", 2))))}`);
console.log(`hover, server-side: ${stats(await time(ROUNDS, (i) => { const s = source(6000 + i); return proc.language({ op: "quickinfo", files: { "reconciler.ts": s }, file: "reconciler.ts", pos: s.indexOf("ctx.log") + 5 }); }))}`);

proc.close();
client.close();
