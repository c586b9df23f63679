/**
 * What loading one dependency costs a fresh Node process: RSS and V8 heap after
 * `import(<module>)` and a full GC, minus the same for an empty process. Each module is
 * measured in its own process, three times; the median is printed. MEMORY.md uses it
 * to say which imports the operator, the sandbox host and the compiler pay for.
 * Usage:
 *   node operator/bench/module-cost.bench.ts [module ...]
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const modules = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [
  "@kubernetes/client-node",
  "koa",
  "@koa/router",
  "ws",
  "yaml",
  "typescript",
  "isolated-vm",
  "node-forge",
  "./operator/src/kube/client.ts",
  "./operator/src/server/index.ts",
  "./operator/src/lifecycle.ts",
];

const MiB = 2 ** 20;
function measure(spec: string): { rss: number; heap: number; code: number } {
  const target = spec.startsWith("./") ? join(root, spec) : spec;
  const script = `
    ${spec === "" ? "" : `await import(${JSON.stringify(target)});`}
    for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
    const v8 = await import("node:v8");
    const code = v8.getHeapSpaceStatistics().filter((s) => /code/.test(s.space_name)).reduce((a, s) => a + s.space_used_size, 0);
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ rss: m.rss, heap: m.heapUsed, code }));`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--disable-warning=ExperimentalWarning", "--input-type=module", "-e", script], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${spec}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(r.stdout) as { rss: number; heap: number; code: number };
}
function median(spec: string) {
  const runs = [measure(spec), measure(spec), measure(spec)];
  const mid = (f: (x: { rss: number; heap: number; code: number }) => number) => runs.map(f).sort((a, b) => a - b)[1]!;
  return { rss: mid((x) => x.rss), heap: mid((x) => x.heap), code: mid((x) => x.code) };
}

const empty = median("");
console.log(`empty node process: RSS ${(empty.rss / MiB).toFixed(1)} MiB, heap used ${(empty.heap / MiB).toFixed(1)} MiB, code ${(empty.code / MiB).toFixed(1)} MiB`);
for (const spec of modules) {
  const m = median(spec);
  console.log(`${spec.padEnd(34)} +RSS ${((m.rss - empty.rss) / MiB).toFixed(1).padStart(5)} MiB | +heap used ${((m.heap - empty.heap) / MiB).toFixed(1).padStart(5)} MiB | +code ${((m.code - empty.code) / MiB).toFixed(1).padStart(4)} MiB`);
}
