import assert from "node:assert/strict";
import { it } from "node:test";
import { isModuleKey, isSourceKey } from "./source-keys.ts";

it("counts every .ts key as source, and .d.ts keys as source but not modules", () => {
  for (const key of ["reconciler.ts", "lib.ts", "a.b.ts"]) assert.ok(isSourceKey(key) && isModuleKey(key), key);
  assert.ok(isSourceKey("types.d.ts"));
  assert.ok(!isModuleKey("types.d.ts"));
  for (const key of ["README.md", "lib.js", "config.json", "ts", "lib.ts.bak"]) assert.ok(!isSourceKey(key) && !isModuleKey(key), key);
});
