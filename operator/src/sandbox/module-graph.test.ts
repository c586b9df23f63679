import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSpecifier } from "./module-graph.ts";

const keys = new Set(["reconciler.ts", "lib.ts", "util/labels.ts"]);

test("relative imports of own files resolve, from nested folders too, with or without .ts", () => {
  assert.deepEqual(resolveSpecifier("./lib.ts", "reconciler.ts", keys), { ok: true, key: "lib.ts" });
  assert.deepEqual(resolveSpecifier("./lib", "reconciler.ts", keys), { ok: true, key: "lib.ts" });
  assert.deepEqual(resolveSpecifier("./util/labels.ts", "reconciler.ts", keys), { ok: true, key: "util/labels.ts" });
  assert.deepEqual(resolveSpecifier("../lib.ts", "util/labels.ts", keys), { ok: true, key: "lib.ts" });
  assert.deepEqual(resolveSpecifier("./sub/../lib.ts", "reconciler.ts", keys), { ok: true, key: "lib.ts" });
});

test("bare, built-in, missing, other-extension and escaping specifiers fail naming the specifier", () => {
  for (const [specifier, referrer] of [["node:fs", "reconciler.ts"], ["lodash", "lib.ts"], ["./nope.ts", "reconciler.ts"], ["../../etc/passwd", "util/labels.ts"], ["../lib.ts", "reconciler.ts"], ["./lib.js", "reconciler.ts"], ["./lib.d.ts", "reconciler.ts"], ["./util", "reconciler.ts"], ["./lib.ts/", "reconciler.ts"], ["lib.ts", "reconciler.ts"]] as const) {
    const result = resolveSpecifier(specifier, referrer, keys);
    assert.equal(result.ok, false, specifier);
    if (!result.ok) assert.match(result.message, new RegExp(`${referrer} imports "${specifier.replace(/[.]/g, "\\.")}"`));
  }
});
