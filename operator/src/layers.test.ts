// The layer order, checked (as Kopf checks its own): value imports point one way,
//   main/run/operator -> server -> engine -> reconcilers -> sandbox -> (kube, telemetry, child)
// and only kube/ (plus the entry points that load credentials) touches the Kubernetes
// client library. Type-only imports are erased at run time and may point anywhere.
import assert from "node:assert/strict";
import { globSync, readFileSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { it } from "node:test";

const src = import.meta.dirname;
const rank: Record<string, number> = { kube: 0, telemetry: 0, child: 0, sandbox: 1, reconcilers: 2, engine: 3, server: 4, admission: 3.5, ".": 5, dev: 6 };
const layerOf = (file: string) => {
  const first = relative(src, file).split("/")[0]!;
  return first.endsWith(".ts") ? "." : first;
};

/** Value imports of a file: `import x from`, `import { a } from`, `export ... from`, skipping `import type`. */
function valueImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
    if (m[1]) continue;
    out.push(m[2]!);
  }
  return out;
}

const files = globSync("**/*.ts", { cwd: src }).filter((f) => !f.endsWith(".test.ts") && !f.includes("test-fixture") && !f.includes("fixtures")).map((f) => join(src, f));

it("keeps value imports pointing down the layers", () => {
  const wrong: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    for (const spec of valueImports(readFileSync(file, "utf8"))) {
      if (!spec.startsWith(".")) continue;
      const target = join(dirname(file), spec);
      if (!target.startsWith(src)) {
        if (from !== "dev") wrong.push(`${relative(src, file)} imports ${spec} (outside operator/src)`);
        continue;
      }
      const to = layerOf(target);
      if (to !== from && !(rank[to]! < rank[from]!)) wrong.push(`${relative(src, file)} (${from}) imports ${spec} (${to})`);
    }
  }
  assert.deepEqual(wrong, []);
});

// Inside engine/: the pipeline and what it needs sit below the writers, which sit below
// the controller; dry run sits beside the live writer, so it cannot reach the cluster's.
const engineRank: Record<string, number> = {
  "children.ts": 0, "finalizer.ts": 0, "queue.ts": 0, "status.ts": 1, "failures.ts": 1, "pipeline.ts": 2,
  "api-writer.ts": 3, "dryrun.ts": 3, "controller.ts": 4, "engine.ts": 5,
};

it("keeps engine/ in its order: pipeline below the writers, writers below the controller", () => {
  const engine = files.filter((f) => relative(src, f).startsWith("engine/") && !f.endsWith(".fixture.ts"));
  const unranked = engine.map((f) => relative(join(src, "engine"), f)).filter((f) => engineRank[f] === undefined);
  assert.deepEqual(unranked, [], "every engine module has a rank");
  const wrong: string[] = [];
  for (const file of engine) {
    const from = relative(join(src, "engine"), file);
    for (const spec of valueImports(readFileSync(file, "utf8"))) {
      const target = join(dirname(file), spec);
      if (!spec.startsWith("./") || dirname(target) !== dirname(file)) continue;
      const to = relative(dirname(file), target);
      if (!(engineRank[to]! < engineRank[from]!)) wrong.push(`engine/${from} imports ${spec}`);
    }
  }
  assert.deepEqual(wrong, []);
});

it("says at the top of every file over 400 lines why it is long", () => {
  const unexplained = files.filter((f) => {
    const text = readFileSync(f, "utf8");
    if (text.split("\n").length <= 400) return false;
    const top = text.match(/^\/\*\*[\s\S]*?\*\//)?.[0] ?? "";
    return !/Why this file is long/.test(top);
  }).map((f) => relative(src, f));
  assert.deepEqual(unexplained, []);
});

it("lets only kube/ and the entry points use the Kubernetes client library", () => {
  const allowed = new Set(["main.ts", "dev/start.ts"]);
  const users = files.filter((f) => valueImports(readFileSync(f, "utf8")).includes("@kubernetes/client-node"))
    .map((f) => relative(src, f))
    .filter((f) => !f.startsWith("kube/") && !allowed.has(f));
  assert.deepEqual(users, []);
});

it("finds the imports it checks (the checker itself works)", () => {
  assert.deepEqual(valueImports('import type { A } from "./a.ts";\nimport { b } from "./b.ts";\nexport { c } from "./c.ts";\nimport {\n  d,\n} from "./d.ts";'), ["./b.ts", "./c.ts", "./d.ts"]);
  assert.ok(files.length > 30);
});
