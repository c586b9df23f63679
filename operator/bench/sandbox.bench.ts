/**
 * Sandbox benchmark: per-call cost of running a reconciler through the sandbox (IPC to
 * the host, isolate call, JSON copies both ways, result checks) against calling the
 * same function in-process; throughput sequentially and with concurrency = poolSize;
 * cold start of a revision; memory per isolate. Prints figures, asserts nothing.
 *
 * Run: node operator/bench/sandbox.bench.ts   (about 20 s on 2 cores)
 */
import { Sandbox, type HostBridge } from "../src/sandbox/index.ts";

const POOL_SIZE = 2;
const WARMUP = 500;
const CALLS = 5000;
const REVISIONS = 10;

const RECONCILER = `
const labels = (res) => ({ "app.kubernetes.io/managed-by": "chakrator", "example.com/owner": res.metadata.name });
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res, ctx) {
    ctx.now();
    return {
      children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-message", labels: labels(res) }, data: { message: res.spec.message } }],
      status: { message: res.spec.message.toUpperCase() },
      requeueAfterSeconds: 300,
    };
  },
};
`;
const WITH_GET = RECONCILER.replace("ctx.now();", "await ctx.get({ apiVersion: 'v1', kind: 'ConfigMap' }, res.metadata.name + '-message');").replace("reconcile(res, ctx)", "async reconcile(res, ctx)");

const resource = {
  apiVersion: "example.com/v1",
  kind: "MyResource",
  metadata: { name: "demo", namespace: "default", uid: "0b0e8f0e-1", resourceVersion: "12345", generation: 3, labels: { team: "a" } },
  spec: { message: "hello from the benchmark", replicas: 3 },
};
const child = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "demo-message", namespace: "default" }, data: { message: "x" } };
const bridge: HostBridge = { get: async () => child, list: async () => [child], log: () => {}, event: () => {} };
const ctx = { log: { debug() {}, info() {}, warn() {}, error() {} }, get: async () => child, list: async () => [child], event() {}, now: () => Date.now() };

function summary(label: string, samples: number[], wallMs: number): { mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const perSecond = (samples.length / wallMs) * 1000;
  console.log(`${label.padEnd(44)} ${perSecond.toFixed(0).padStart(8)} calls/s   mean ${mean.toFixed(4)} ms   p50 ${at(0.5).toFixed(4)} ms   p99 ${at(0.99).toFixed(4)} ms`);
  return { mean };
}

async function measure(label: string, concurrency: number, once: () => Promise<unknown>): Promise<{ mean: number }> {
  for (let i = 0; i < WARMUP; i++) await once();
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < CALLS) {
      const t0 = performance.now();
      await once();
      samples.push(performance.now() - t0);
    }
  }));
  return summary(label, samples, performance.now() - started);
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

const sandbox = await Sandbox.start({ poolSize: POOL_SIZE });
try {
  const inProcess = (await import(`data:text/javascript,${encodeURIComponent(RECONCILER)}`)).default as { reconcile(res: unknown, ctx: unknown): unknown };
  const inProcessGet = (await import(`data:text/javascript,${encodeURIComponent(WITH_GET)}`)).default as { reconcile(res: unknown, ctx: unknown): Promise<unknown> };
  await sandbox.load({ id: "bench", entry: "reconciler.ts", modules: { "reconciler.ts": RECONCILER } });
  await sandbox.load({ id: "bench-get", entry: "reconciler.ts", modules: { "reconciler.ts": WITH_GET } });

  console.log(`node ${process.version}, poolSize ${POOL_SIZE}, ${CALLS} calls per row after ${WARMUP} warm-up calls\n`);
  const direct = await measure("in-process, sequential", 1, async () => inProcess.reconcile(resource, ctx));
  const directCopy = await measure("in-process + JSON copy in/out, sequential", 1, async () =>
    JSON.parse(JSON.stringify(inProcess.reconcile(JSON.parse(JSON.stringify(resource)), ctx))));
  const sequential = await measure("sandbox, sequential", 1, () => sandbox.call("bench", "reconcile", resource, bridge));
  const concurrent = await measure(`sandbox, concurrency ${POOL_SIZE}`, POOL_SIZE, () => sandbox.call("bench", "reconcile", resource, bridge));
  const directGet = await measure("in-process with one ctx.get, sequential", 1, () => inProcessGet.reconcile(resource, ctx));
  const withGet = await measure("sandbox with one ctx.get, sequential", 1, () => sandbox.call("bench-get", "reconcile", resource, bridge));
  console.log(`\noverhead per call, sequential:         ${(sequential.mean - direct.mean).toFixed(4)} ms (vs in-process), ${(sequential.mean - directCopy.mean).toFixed(4)} ms (vs in-process + JSON copies)`);
  console.log(`overhead per call, concurrency ${POOL_SIZE}:      ${(concurrent.mean - direct.mean).toFixed(4)} ms mean latency over in-process`);
  console.log(`overhead of one ctx.get round trip:    ${(withGet.mean - directGet.mean - (sequential.mean - direct.mean)).toFixed(4)} ms`);

  const before = await sandbox.stats();
  const loadTimes: number[] = [];
  for (let i = 0; i < REVISIONS; i++) {
    const t0 = performance.now();
    await sandbox.load({ id: `cold-${i}`, entry: "reconciler.ts", modules: { "reconciler.ts": RECONCILER.replace("chakrator", `chakrator-${i}`) } });
    loadTimes.push(performance.now() - t0);
  }
  const afterStats = await sandbox.stats();
  const sortedLoads = [...loadTimes].sort((a, b) => a - b);
  console.log(`\ncold start (load of a revision, ${REVISIONS} revisions): mean ${(loadTimes.reduce((a, b) => a + b, 0) / REVISIONS).toFixed(2)} ms   p50 ${sortedLoads[Math.floor(REVISIONS / 2)]?.toFixed(2)} ms   max ${sortedLoads[REVISIONS - 1]?.toFixed(2)} ms`);
  const heaps = Object.entries(afterStats.isolates).filter(([id]) => id.startsWith("cold-")).flatMap(([, isolates]) => isolates);
  const used = heaps.reduce((a, h) => a + h.usedHeapBytes, 0) / heaps.length;
  const total = heaps.reduce((a, h) => a + h.totalHeapBytes, 0) / heaps.length;
  console.log(`memory per isolate (V8 heap of a freshly loaded revision): used ${mib(used)}, total ${mib(total)}`);
  console.log(`host RSS growth per loaded revision (1 isolate each): ${mib((afterStats.rssBytes - before.rssBytes) / REVISIONS)}   (host RSS now ${mib(afterStats.rssBytes)})`);
} finally {
  await sandbox.close();
}
