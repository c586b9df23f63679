import { test } from "node:test";
import assert from "node:assert/strict";
import { checkResultShape } from "./result-shape.ts";

test("well-formed reconcile and finalize results pass unchanged", () => {
  const reconcile = { children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", labels: { x: "y" } }, data: {} }], status: { ok: true }, requeueAfterSeconds: 30 };
  assert.deepEqual(checkResultShape("reconcile", reconcile), { ok: true, value: reconcile });
  assert.deepEqual(checkResultShape("reconcile", {}), { ok: true, value: {} });
  assert.deepEqual(checkResultShape("finalize", { done: false, requeueAfterSeconds: 5 }), { ok: true, value: { done: false, requeueAfterSeconds: 5 } });
});

test("wrong shapes are refused with a message naming the field", () => {
  const cases: Array<[method: "reconcile" | "finalize", value: unknown, message: RegExp]> = [
    ["reconcile", null, /must return an object, got null/],
    ["reconcile", [], /must return an object, got an array/],
    ["reconcile", { children: {} }, /children must be an array/],
    ["reconcile", { children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: {} }] }, /children\[0\] must have a non-empty string metadata.name/],
    ["reconcile", { children: [{ kind: "ConfigMap", metadata: { name: "a" } }] }, /children\[0\] must have a non-empty string apiVersion/],
    ["reconcile", { children: [{ apiVersion: "v1", kind: "X", metadata: { name: "a", labels: { a: 1 } } }] }, /metadata.labels must map strings/],
    ["reconcile", { status: "fine" }, /status must be an object/],
    ["reconcile", { requeueAfter: 5 }, /unknown field "requeueAfter"/],
    ["reconcile", { requeueAfterSeconds: -1 }, /requeueAfterSeconds must be a number >= 0/],
    ["finalize", {}, /finalize must return \{ done: boolean \}/],
  ];
  for (const [method, value, message] of cases) {
    const result = checkResultShape(method, value);
    assert.equal(result.ok, false, JSON.stringify(value));
    if (!result.ok) assert.match(result.message, message);
  }
});
