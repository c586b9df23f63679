/**
 * Failures, in one place: which `Ready=False` reason each error shows, the message a
 * person reads (with the hint that says what to do), and the Event that says a
 * reconciler cannot start because its watch is forbidden. The engine's pipeline and
 * dry run both use this table, so a dry run names a failure as the cluster would.
 */
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import type { EventSpec } from "../kube/events.ts";
import {
  CallAbortedError, HostMemoryLimitError, InvalidResultError, MemoryLimitError, QuarantinedError, SandboxCrashedError, SandboxError, TimeoutError,
  userMessage,
} from "../sandbox/index.ts";
import { ChildConflictError, InvalidChildError } from "./children.ts";

/** A child could not be applied (RBAC, validation, conflict). */
export class ApplyError extends Error {
  override name = "ApplyError";
}

/**
 * The `Ready=False` reason of `err`; `fallback` for an error of the user's own code
 * (`ReconcileError`, or `FinalizeError` for a failed `finalize`).
 */
export function reasonFor(err: unknown, fallback = "ReconcileError"): string {
  if (err instanceof TimeoutError) return "Timeout";
  if (err instanceof MemoryLimitError || err instanceof HostMemoryLimitError) return "MemoryLimit";
  if (err instanceof QuarantinedError) return "Quarantined";
  if (err instanceof InvalidResultError) return "InvalidResult";
  if (err instanceof SandboxCrashedError || err instanceof CallAbortedError) return "SandboxRestarted";
  if (err instanceof InvalidChildError) return "InvalidChild";
  if (err instanceof ChildConflictError) return "ChildConflict";
  if (err instanceof ApplyError) return "ApplyFailed";
  if (err instanceof KubeApiError) return "APIError";
  return fallback;
}

/** Which sandbox limit `err` hit, for metrics; undefined for any other failure. */
export function sandboxLimitOf(err: unknown): "timeout" | "memory" | undefined {
  if (err instanceof TimeoutError) return "timeout";
  if (err instanceof MemoryLimitError || err instanceof HostMemoryLimitError) return "memory";
  return undefined;
}

/**
 * The message of `err` as a person reads it. A 403 says whom to grant what (the
 * reconciler's ServiceAccount when `client` impersonates one); a sandbox error names
 * revision numbers, not internal ids.
 */
export function describeError(err: unknown, client?: Pick<KubeClient, "impersonated">): string {
  const who = client?.impersonated;
  if (err instanceof KubeApiError && err.status === 403) {
    return who !== undefined
      ? `${err.message} (grant ${who.replace(/^system:serviceaccount:([^:]+):/, "ServiceAccount $1/")} this permission; chakrator rbac prints the Role)`
      : `${err.message} (grant the operator's ServiceAccount this permission, see manifests/README.md "A reconciler's own identity")`;
  }
  if (err instanceof SandboxError) return userMessage(err);
  return err instanceof Error ? err.message : String(err);
}

/**
 * The Warning Event for the reconciler ConfigMap `reconciler` (`namespace/name`) when
 * a watch of `kind` is forbidden: it never heals by itself and keeps the reconciler
 * from starting, so say so where `kubectl describe configmap` shows it. `who` is "the
 * operator" or "its ServiceAccount ns/name"; `namespace` undefined means all namespaces.
 */
export function watchForbiddenEvent(reconciler: string, kind: string, who: string, namespace: string | undefined, err: Error): { ref: KubeObject; spec: EventSpec } {
  const i = reconciler.indexOf("/");
  const metadata = i < 0 ? { name: reconciler } : { name: reconciler.slice(i + 1), namespace: reconciler.slice(0, i) };
  const where = namespace === undefined ? " in all namespaces" : ` in namespace ${namespace}`;
  return {
    ref: { apiVersion: "v1", kind: "ConfigMap", metadata },
    spec: { type: "Warning", reason: "WatchForbidden", message: `${who} may not list/watch ${kind}${where}, so this reconciler cannot start: ${err.message} (chakrator rbac prints the Role it needs)` },
  };
}
