/**
 * The reconcile pipeline: one object and one revision in, an explicit outcome out.
 *
 *   finalizer step (finalizer.ts) -> sandbox call -> apply children -> prune -> status
 *
 * Every write goes through a `PipelineWriter`: the controller's writes to the API
 * server (api-writer.ts), or dry run's recorder (dryrun.ts), so a dry run takes the
 * same steps and names failures with the same reasons (failures.ts) as the cluster.
 * Nothing here knows about informers, queues or retries: the controller turns the
 * outcome into queue operations.
 */
import type { KubeClient, KubeObject } from "../kube/client.ts";
import type { EventSpec } from "../kube/events.ts";
import { resourceName } from "../kube/informer.ts";
import { QuarantinedError, UserCodeError, type HostBridge, type RevisionRunner } from "../sandbox/index.ts";
import type { Logger } from "../telemetry/log.ts";
import type { FinalizeResult, KindRef, ReconcileResult } from "../../types/chakrator.d.ts";
import { prepareChildren } from "./children.ts";
import { describeError, reasonFor, sandboxLimitOf } from "./failures.ts";
import { finalizerStep } from "./finalizer.ts";
import type { ReadyCondition } from "./status.ts";

/** What the pipeline needs of a revision. */
export interface PipelineRevision {
  /** `namespace/name` of the reconciler ConfigMap. */
  reconciler: string;
  number: number;
  /** The sandbox's revision id. */
  sandboxId: string;
  owns: KindRef[];
  hasFinalize: boolean;
}

/** How a pass ended; the controller maps it to queue operations. */
export type Outcome =
  | { type: "done"; requeueAfterMs?: number }
  | { type: "gone" }
  /** `retryAfterMs`: retry then instead of after the key's backoff (a quarantine's end). */
  | { type: "error"; error: unknown; reason: string; message: string; retryAfterMs?: number };

/** Every write the pipeline makes. Methods may throw; the pipeline turns that into an error outcome. */
export interface PipelineWriter {
  /** Adds our finalizer; resolves to the object as written. */
  addFinalizer(obj: KubeObject): Promise<KubeObject>;
  /** Removes our finalizer (the object may then be deleted). */
  removeFinalizer(obj: KubeObject): Promise<void>;
  /** Makes the children `desired` (already stamped by `prepareChildren`) live; resolves to how many were written. */
  applyChildren(parent: KubeObject, desired: KubeObject[]): Promise<number>;
  /** Deletes children of `owner`, of the `owns` kinds, that `desired` no longer lists; resolves to how many. */
  pruneChildren(owner: KubeObject, desired: KubeObject[], owns: readonly KindRef[]): Promise<number>;
  /** The user's status fields (undefined keeps the last ones) and the Ready condition. */
  writeStatus(obj: KubeObject, userStatus: Record<string, unknown> | undefined, ready: ReadyCondition): Promise<void>;
  /** An Event on `obj`, fire and forget: `user` from `ctx.event`, `operator` from the engine. */
  event(obj: KubeObject, spec: EventSpec, from: "user" | "operator"): void;
}

export interface PipelineInput {
  obj: KubeObject;
  rev: PipelineRevision;
  sandbox: RevisionRunner;
  writer: PipelineWriter;
  /** `ctx.get`/`ctx.list` of the call. */
  reads: Pick<HostBridge, "get" | "list">;
  /** Already carries the reconciler and revision; the pipeline adds the resource. */
  log: Logger;
  /** Names whom to grant a forbidden permission (failures.ts `describeError`). */
  client?: Pick<KubeClient, "impersonated">;
  /** Told when a call hit a sandbox limit (metrics). */
  sandboxFailure?: (reconciler: string, kind: "timeout" | "memory") => void;
}

/** One pass over `input.obj`; never rejects (a failure is an error outcome). */
export async function runPipeline(input: PipelineInput): Promise<Outcome> {
  const { obj, rev, writer } = input;
  const log = input.log.child({ resource: resourceName(obj) });
  const bridge = (target: KubeObject): HostBridge => ({
    ...input.reads,
    log: (level, message, fields) => log.log(level, message, { source: "user", ...(fields ? { fields } : {}) }),
    event: (e) => writer.event(target, { type: e.type ?? "Normal", reason: e.reason, message: e.message }, "user"),
  });
  const step = finalizerStep(obj, rev.hasFinalize);
  if (step === "nothing") return { type: "done" };
  let current = obj;
  try {
    if (step === "finalize") {
      let result: FinalizeResult;
      try {
        result = await input.sandbox.call(rev.sandboxId, "finalize", obj, bridge(obj));
      } catch (err: unknown) {
        return await fail(input, log, obj, err, "FinalizeError");
      }
      if (!result.done) return { type: "done", requeueAfterMs: (result.requeueAfterSeconds ?? 5) * 1000 };
    }
    if (step === "finalize" || step === "remove") {
      await writer.removeFinalizer(obj);
      log.info("finalized; finalizer removed");
      return { type: "done" };
    }
    if (step === "add-then-reconcile") current = await writer.addFinalizer(obj);
  } catch (err: unknown) {
    // A finalizer write failed (a conflict, a 403): retried with backoff; no Ready=False,
    // since the reconciler's code did not fail.
    return errorOutcome(err, input.client);
  }

  let result: ReconcileResult;
  try {
    result = await input.sandbox.call(rev.sandboxId, "reconcile", current, bridge(current));
  } catch (err: unknown) {
    return fail(input, log, current, err);
  }
  try {
    const desired = prepareChildren(current, result.children, rev.owns);
    const applied = await writer.applyChildren(current, desired);
    const pruned = await writer.pruneChildren(current, desired, rev.owns);
    await writer.writeStatus(current, result.status ?? {}, {
      status: "True",
      reason: "Reconciled",
      // Stable for a converged object (no counts of what this pass did), so that a
      // re-reconcile with nothing to do writes nothing.
      message: `revision ${rev.number}: ${desired.length} ${desired.length === 1 ? "child" : "children"} in sync`,
    });
    if (applied || pruned) log.info(`reconciled: ${applied} applied, ${pruned} pruned`);
  } catch (err: unknown) {
    return fail(input, log, current, err);
  }
  const after = result.requeueAfterSeconds;
  return after !== undefined && after > 0 ? { type: "done", requeueAfterMs: after * 1000 } : { type: "done" };
}

/** The outcome of a failure nobody was told about (no log, Event or status): the caller retries. */
export function errorOutcome(err: unknown, client?: Pick<KubeClient, "impersonated">): Outcome {
  return { type: "error", error: err, reason: reasonFor(err), message: describeError(err, client) };
}

/** Says a pass failed everywhere a person looks (log, Warning Event, Ready=False), then the error outcome. */
async function fail(input: PipelineInput, log: Logger, obj: KubeObject, err: unknown, fallbackReason = "ReconcileError"): Promise<Outcome> {
  const { rev, writer } = input;
  const reason = reasonFor(err, fallbackReason);
  const message = describeError(err, input.client);
  const fields: Record<string, unknown> = { reason };
  if (err instanceof UserCodeError && err.userStack) fields.stack = err.userStack;
  log.error(`reconcile failed: ${message}`, fields);
  const limit = sandboxLimitOf(err);
  if (limit !== undefined) input.sandboxFailure?.(rev.reconciler, limit);
  writer.event(obj, { type: "Warning", reason, message }, "operator");
  try {
    await writer.writeStatus(obj, undefined, { status: "False", reason, message });
  } catch (statusErr: unknown) {
    log.warn(`could not write the Ready=False status: ${describeError(statusErr)}`);
  }
  // A quarantined revision is tried again when its quarantine ends, not sooner.
  if (err instanceof QuarantinedError) return { type: "error", error: err, reason, message, retryAfterMs: Math.max(1000, err.until - Date.now() + Math.random() * 1000) };
  return { type: "error", error: err, reason, message };
}
