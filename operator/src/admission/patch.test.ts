import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonPatch, protectedChange } from "./patch.ts";

const before = { apiVersion: "v1", kind: "X", metadata: { name: "a", namespace: "n", labels: { "a/b": "1" } }, spec: { list: [1, 2], keep: true, drop: 1 } };

test("the patch adds, removes and replaces, escaping keys, and replaces a changed array whole", () => {
  const after = { apiVersion: "v1", kind: "X", metadata: { name: "a", namespace: "n", labels: { "a/b": "2", "c~d": "x" } }, spec: { list: [1, 3], keep: true, added: { x: 1 } } };
  assert.deepEqual(jsonPatch(before, after), [
    { op: "replace", path: "/metadata/labels/a~1b", value: "2" },
    { op: "add", path: "/metadata/labels/c~0d", value: "x" },
    { op: "remove", path: "/spec/drop" },
    { op: "replace", path: "/spec/list", value: [1, 3] },
    { op: "add", path: "/spec/added", value: { x: 1 } },
  ]);
  assert.deepEqual(jsonPatch(before, structuredClone(before)), []);
});

test("changes to the object's identity or status are named", () => {
  assert.equal(protectedChange(before, { ...before, metadata: { ...before.metadata, labels: {} } }), undefined);
  assert.equal(protectedChange(before, { ...before, kind: "Y" }), "kind");
  assert.equal(protectedChange(before, { ...before, metadata: { ...before.metadata, name: "b" } }), "metadata.name");
  assert.equal(protectedChange(before, { ...before, metadata: { name: "a" } }), "metadata.namespace");
  assert.equal(protectedChange(before, { ...before, status: { ready: true } }), "status");
});
