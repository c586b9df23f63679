/**
 * Benchmark of the compile step: what a user waits for between saving a reconciler
 * and seeing it accepted or rejected. Prints figures only, no assertions.
 *
 *   node --expose-gc operator/bench/compile.bench.ts
 *
 * Cases: loading TypeScript; a cold first compile (lib + typings parsed and bound);
 * warm compiles of a ~50-line reconciler with a one-character edit each time; the
 * same with a second module edited; two reconcilers compiled in turn (as when the
 * operator watches several ConfigMaps); and a warm edit that introduces a type error.
 */
import { performance } from "node:perf_hooks";

const t0 = performance.now();
const { ReconcilerCompiler } = await import("../src/reconcilers/compile.ts");
const loadMs = performance.now() - t0;

const ENTRY = `import type { Child, Reconciler, Resource } from "chakrator";
import { labelsFor, port } from "./lib.ts";

interface WebApp extends Resource {
  spec: { image: string; replicas?: number; message: string };
}

function deployment(app: WebApp): Child {
  const labels = labelsFor(app.metadata.name);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: app.metadata.name, labels },
    spec: {
      replicas: app.spec.replicas ?? 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "web", image: app.spec.image, ports: [{ containerPort: port }] }] },
      },
    },
  };
}

export default {
  for: { apiVersion: "example.com/v1", kind: "WebApp" },
  owns: [
    { apiVersion: "apps/v1", kind: "Deployment" },
    { apiVersion: "v1", kind: "Service" },
  ],
  async reconcile(app: WebApp, ctx) {
    ctx.log.info("reconciling", { name: app.metadata.name, edit: "α" });
    const existing = await ctx.get({ apiVersion: "apps/v1", kind: "Deployment" }, app.metadata.name);
    const ready = existing !== undefined;
    const service: Child = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: app.metadata.name },
      spec: { selector: labelsFor(app.metadata.name), ports: [{ port: 80, targetPort: port }] },
    };
    return {
      children: [deployment(app), service],
      status: { ready, message: app.spec.message.trim() },
      requeueAfterSeconds: ready ? 300 : 10,
    };
  },
} satisfies Reconciler<WebApp>;
`;

const LIB = `export const port = 8080; // α
export function labelsFor(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "chakrator" };
}
`;

function stats(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return `p50 ${at(0.5).toFixed(1)} ms  p95 ${at(0.95).toFixed(1)} ms  max ${at(1).toFixed(1)} ms  (n=${s.length})`;
}

function time(fn: () => { ok: boolean }, expectOk: boolean): number {
  const start = performance.now();
  const r = fn();
  const ms = performance.now() - start;
  if (r.ok !== expectOk) throw new Error(`unexpected outcome ok=${r.ok}`);
  return ms;
}

/** Replaces the marker "α" with a character never used before: each edit is one new character. */
let edits = 0;
const edit = (text: string): string => text.replace("α", String.fromCodePoint(0x4e00 + edits++));
const EDITS = 50;
const compiler = new ReconcilerCompiler();

const coldMs = time(() => compiler.compile({ "reconciler.ts": ENTRY, "lib.ts": LIB }), true);

// Warm-up the JIT a little so the warm figures are about the compiler, not V8.
for (let i = 0; i < 5; i++) compiler.compile({ "reconciler.ts": edit(ENTRY), "lib.ts": LIB });

const entryEdits = Array.from({ length: EDITS }, () =>
  time(() => compiler.compile({ "reconciler.ts": edit(ENTRY), "lib.ts": LIB }), true),
);
const libEdits = Array.from({ length: EDITS }, () =>
  time(() => compiler.compile({ "reconciler.ts": ENTRY, "lib.ts": edit(LIB) }), true),
);
const single = ENTRY.replace('import { labelsFor, port } from "./lib.ts";', LIB);
const singleEdits = Array.from({ length: EDITS }, () =>
  time(() => compiler.compile({ "reconciler.ts": edit(single) }), true),
);
const other = { "reconciler.ts": `import type { Reconciler } from "chakrator";
export default { for: { apiVersion: "v1", kind: "Thing" }, reconcile() { return {}; } } satisfies Reconciler;
` };
const alternating = Array.from({ length: EDITS }, (_, i) =>
  time(() => compiler.compile(i % 2 === 0 ? other : { "reconciler.ts": edit(ENTRY), "lib.ts": LIB }), true),
);
const typeErrors = Array.from({ length: EDITS }, (_, i) =>
  time(() => compiler.compile({ "reconciler.ts": edit(ENTRY).replace("ready ? 300 : 10", `"${i}"`), "lib.ts": LIB }),
    false),
);

// Run with --expose-gc to see the live heap rather than uncollected garbage.
(globalThis as { gc?: () => void }).gc?.();
const mem = process.memoryUsage();
console.log(`typescript + compile.ts import          ${loadMs.toFixed(1)} ms`);
console.log(`cold first compile (2 modules)          ${coldMs.toFixed(1)} ms`);
console.log(`warm, 1-char edit, single 50-line module ${stats(singleEdits)}`);
console.log(`warm, 1-char edit in reconciler.ts (2 m) ${stats(entryEdits)}`);
console.log(`warm, 1-char edit in lib.ts (2 modules)  ${stats(libEdits)}`);
console.log(`warm, two reconcilers in turn            ${stats(alternating)}`);
console.log(`warm, edit introducing a type error      ${stats(typeErrors)}`);
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
console.log(`heap used after ${EDITS * 5 + 6} compiles          ${mib(mem.heapUsed)} (rss ${mib(mem.rss)})`);
