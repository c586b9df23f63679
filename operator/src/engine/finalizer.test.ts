// The finalizer state function over every combination of its three inputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "../kube/client.ts";
import { finalizerName, finalizerStep, hasFinalizer } from "./finalizer.ts";

const object = (finalizers: string[] | undefined, deleting: boolean): KubeObject => ({
  apiVersion: "example.com/v1",
  kind: "Demo",
  metadata: { name: "d", namespace: "default", ...(finalizers ? { finalizers } : {}), ...(deleting ? { deletionTimestamp: "2026-12-03T00:00:00Z" } : {}) },
});

test("every (has finalize) x (has our finalizer) x (deleting) has one step", () => {
  const table: Array<[hasFinalize: boolean, finalizers: string[] | undefined, deleting: boolean, step: string]> = [
    [true, undefined, false, "add-then-reconcile"],
    [true, ["other.example.com/keep"], false, "add-then-reconcile"],
    [true, [finalizerName], false, "reconcile"],
    [false, undefined, false, "reconcile"],
    [false, [finalizerName], false, "reconcile"],
    [true, [finalizerName], true, "finalize"],
    [false, [finalizerName], true, "remove"],
    [true, undefined, true, "nothing"],
    [true, ["other.example.com/keep"], true, "nothing"],
    [false, undefined, true, "nothing"],
  ];
  for (const [hasFinalize, finalizers, deleting, step] of table) {
    assert.equal(finalizerStep(object(finalizers, deleting), hasFinalize), step, `finalize=${hasFinalize} finalizers=${JSON.stringify(finalizers)} deleting=${deleting}`);
  }
});

test("only our own finalizer counts", () => {
  assert.equal(hasFinalizer(object(["chakrator.dev/finalizer-x", "other/chakrator.dev/finalizer"], false)), false);
  assert.equal(hasFinalizer(object(["a/b", finalizerName], false)), true);
});
