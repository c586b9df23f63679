/**
 * The finalizer as a pure state function, as kube-rs's `finalizer()` helper is: from
 * (does the revision have `finalize`) × (does the object carry our finalizer) × (is it
 * being deleted), the one step the pipeline takes next. The pipeline (pipeline.ts)
 * performs the step through its writer; this module only decides.
 *
 * Expected flow
 * - A reconciler with `finalize`: the first reconcile of an object adds
 *   `chakrator.dev/finalizer` (a JSON patch guarded by resourceVersion), then reconciles
 *   in the same pass. On deletion the API server sets `deletionTimestamp` and keeps the
 *   object; each pass calls `finalize` until it returns `{ done: true }`, then removes
 *   the finalizer and the API server deletes the object.
 * - A reconciler without `finalize`: the engine never adds the finalizer. A deleted
 *   object is gone at once; its children go with it (owner references, garbage
 *   collection), so nothing is left to do.
 *
 * Guarantees
 * - `finalize` runs only on an object that is being deleted and still carries our
 *   finalizer, so cleanup runs at least once for every object the reconciler saw with
 *   `finalize` in force, and the object is not deleted before it returned `done`.
 * - The finalizer is removed only after `finalize` returned `done`, or when the running
 *   revision has no `finalize` any more (a newer revision dropped it: nothing would
 *   ever remove the finalizer otherwise, and the object would hang in Terminating).
 * - An object being deleted is never reconciled and never gets the finalizer added.
 *
 * Caveats
 * - `finalize` may run more than once for one deletion (a pass that fails, or that
 *   returns `{ done: false }`, is retried): make it idempotent.
 * - Removing `finalize` from a reconciler releases objects in Terminating without
 *   cleanup; objects created while it had none never carry the finalizer.
 * - Someone else may remove the finalizer (`kubectl patch`): the object is then deleted
 *   without `finalize`, as Kubernetes allows.
 */
import type { KubeObject } from "../kube/client.ts";

/** The finalizer the engine adds when a reconciler has `finalize`. */
export const finalizerName = "chakrator.dev/finalizer";

/** What the pipeline does next with an object; see the module comment. */
export type FinalizerStep =
  /** Not being deleted and the finalizer is in place (or not wanted): reconcile. */
  | "reconcile"
  /** Not being deleted, the revision has `finalize`, the finalizer is missing: add it, then reconcile. */
  | "add-then-reconcile"
  /** Being deleted with our finalizer, the revision has `finalize`: call it. */
  | "finalize"
  /** Being deleted with our finalizer, the revision has no `finalize` (any more): remove it. */
  | "remove"
  /** Being deleted without our finalizer: nothing of ours holds it. */
  | "nothing";

/** The step for `obj` under a revision that has (`hasFinalize`) or lacks `finalize`. */
export function finalizerStep(obj: KubeObject, hasFinalize: boolean): FinalizerStep {
  const has = hasFinalizer(obj);
  if (obj.metadata.deletionTimestamp) {
    if (!has) return "nothing";
    return hasFinalize ? "finalize" : "remove";
  }
  return hasFinalize && !has ? "add-then-reconcile" : "reconcile";
}

/** True when `obj` carries `chakrator.dev/finalizer`. */
export function hasFinalizer(obj: KubeObject): boolean {
  return (obj.metadata.finalizers ?? []).includes(finalizerName);
}
