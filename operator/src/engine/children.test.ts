// Pure logic of children and status: validation and stamping of desired children, the
// "already applied" check, pruning choice, and the status patch's no-op detection.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "../kube/client.ts";
import { childrenToPrune, InvalidChildError, needsApply, ownerLabel, prepareChildren } from "./children.ts";
import { statusPatch } from "./status.ts";

const parent: KubeObject = { apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "p", namespace: "ns", uid: "u-1", generation: 3 } };
const owns = [{ apiVersion: "v1", kind: "ConfigMap" }];
const child = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { a: "1" }, ...extra });

describe("prepareChildren", () => {
  it("stamps the controller owner reference, the owner label and the parent's namespace", () => {
    const [c] = prepareChildren(parent, [child("c", { status: { x: 1 } })], owns);
    assert.equal(c!.metadata.namespace, "ns");
    assert.equal(c!.metadata.labels?.[ownerLabel], "u-1");
    assert.deepEqual(c!.metadata.ownerReferences, [{ apiVersion: "example.com/v1", kind: "MyResource", name: "p", uid: "u-1", controller: true, blockOwnerDeletion: true }]);
    assert.equal(c!.status, undefined, "status is not applied with the object");
  });

  for (const [what, children, message] of [
    ["a kind not in owns", [{ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } }], /kind v1\/Secret is not in owns \[v1\/ConfigMap\]/],
    ["another namespace", [child("c", { metadata: { name: "c", namespace: "other" } })], /namespace other differs/],
    ["a duplicate", [child("c"), child("c")], /returned twice/],
    ["a bad name", [child("Not_A_Name")], /DNS subdomain/],
    ["a non-array", "x", /must be an array/],
  ] as const) {
    it(`refuses ${what}`, () => {
      assert.throws(() => prepareChildren(parent, children, owns), (err: unknown) => err instanceof InvalidChildError && message.test(err.message));
    });
  }
});

describe("needsApply and childrenToPrune", () => {
  it("skips a child whose live copy already holds every desired field (server defaults allowed)", () => {
    const [desired] = prepareChildren(parent, [child("c")], owns);
    const live = { ...desired!, metadata: { ...desired!.metadata, uid: "x", resourceVersion: "9" }, data: { a: "1" }, extra: true } as KubeObject;
    assert.equal(needsApply(desired!, live), false);
    assert.equal(needsApply(desired!, { ...live, data: { a: "2" } } as KubeObject), true);
    assert.equal(needsApply(desired!, undefined), true);
  });

  it("prunes only our children that are no longer desired", () => {
    const mine = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns", labels: { [ownerLabel]: "u-1" }, ownerReferences: [{ apiVersion: "example.com/v1", kind: "MyResource", name: "p", uid: "u-1", controller: true }] } }) as KubeObject;
    const foreign = { ...mine("f"), metadata: { ...mine("f").metadata, ownerReferences: [{ apiVersion: "x/v1", kind: "X", name: "o", uid: "u-2", controller: true }] } } as KubeObject;
    const desired = prepareChildren(parent, [child("keep")], owns);
    assert.deepEqual(childrenToPrune(parent, [mine("keep"), mine("old"), foreign], desired).map((c) => c.metadata.name), ["old"]);
  });
});

describe("statusPatch", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  it("writes user fields, observedGeneration and Ready, then nothing once live says the same", () => {
    const patch = statusPatch(parent, { message: "hi" }, { status: "True", reason: "Reconciled", message: "ok" }, now)!;
    assert.equal(patch.status.message, "hi");
    assert.equal(patch.status.observedGeneration, 3);
    const live = { ...parent, status: patch.status };
    assert.equal(statusPatch(live, { message: "hi" }, { status: "True", reason: "Reconciled", message: "ok" }, new Date()), undefined);
  });

  it("keeps lastTransitionTime while Ready does not flip, removes fields no longer returned", () => {
    const live = { ...parent, status: { old: 1, conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: "ok", lastTransitionTime: "2025-01-01T00:00:00Z" }] } };
    const same = statusPatch(live, {}, { status: "True", reason: "Reconciled", message: "ok" }, now)!;
    assert.equal((same.status.conditions as Array<{ lastTransitionTime: string }>)[0]!.lastTransitionTime, "2025-01-01T00:00:00Z");
    assert.equal(same.status.old, null, "a dropped field is removed by the merge patch");
    const flipped = statusPatch(live, {}, { status: "False", reason: "ReconcileError", message: "boom" }, now)!;
    assert.equal((flipped.status.conditions as Array<{ lastTransitionTime: string }>)[0]!.lastTransitionTime, "2026-01-01T00:00:00Z");
  });
});
