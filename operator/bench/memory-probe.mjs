/**
 * A bench-only probe, preloaded into every Chakrator process with
 * `NODE_OPTIONS=--import=<this file>` (the sandbox host and the compiler inherit it):
 * on SIGUSR2 it writes `$CHAKRATOR_PROBE_DIR/<pid>.json` with process.memoryUsage(),
 * the V8 heap by space, the heap totals, the process's role (its script) and the
 * modules it has loaded, by package (files and source bytes; ESM and CommonJS, seen
 * through module.registerHooks). Nothing else; it never runs in the product.
 * memory.bench.ts reads the files.
 *
 * Plain JavaScript on purpose: a .ts probe would itself load Node's type stripper
 * (~17 MiB of RSS) into processes that may not otherwise need it.
 */
import { renameSync, writeFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { join } from "node:path";
import v8 from "node:v8";

const dir = process.env.CHAKRATOR_PROBE_DIR;
/** Package (or "chakrator" for our own files, "node:" for built-ins) -> files, source bytes. */
const loaded = new Map();
function packageOf(url) {
  if (url.startsWith("node:")) return "node:";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return m ? m[1] : "chakrator";
}

if (dir) {
  registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      const entry = loaded.get(packageOf(url)) ?? { files: 0, bytes: 0 };
      entry.files++;
      const src = result.source;
      entry.bytes += typeof src === "string" ? Buffer.byteLength(src) : src ? src.byteLength : 0;
      loaded.set(packageOf(url), entry);
      return result;
    },
  });
  process.on("SIGUSR2", () => {
    const report = {
      pid: process.pid,
      script: process.argv[1] ?? "",
      memory: process.memoryUsage(),
      spaces: v8.getHeapSpaceStatistics().map((s) => ({ name: s.space_name, used: s.space_used_size, size: s.space_size, physical: s.physical_space_size })),
      heap: v8.getHeapStatistics(),
      modules: Object.fromEntries([...loaded].sort((a, b) => b[1].bytes - a[1].bytes)),
    };
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
  });
}

export {};
