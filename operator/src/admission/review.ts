/**
 * One admission request in, one AdmissionReview response out: runs the reconciler's
 * `validate` or `mutate` in its sandbox and turns the answer, or the failure, into
 * what the API server expects.
 *
 * Guarantees:
 * - Always answers, and before the API server gives up: the call has the revision's
 *   admission limit in the sandbox, and an overall deadline (queueing included) of the
 *   webhook's `timeoutSeconds` minus a margin.
 * - A throw, a timeout, an invalid answer or a change to a protected field is a failure:
 *   with failurePolicy Fail the request is denied with a message naming the reconciler,
 *   the revision and the error; with Ignore it is allowed with that message as a
 *   warning. Either way the failure is a Warning Event on the reconciler ConfigMap, a
 *   log record and a metric (`onOutcome`).
 * - Nothing here waits for the reconcile queue: admission calls go to the revision's
 *   own admission isolates (see index.ts), not through the engine.
 * - An UPDATE of an object that is being deleted is allowed without a call: refusing it
 *   would only keep finalizers from being removed.
 */
import type { KubeObject } from "../kube/client.ts";
import { SandboxError, userMessage, type HostBridge, type Sandbox } from "../sandbox/index.ts";
import type { AdmissionRequest, JsonValue, KindRef, Resource } from "../../types/chakrator.d.ts";
import { jsonPatch, protectedChange } from "./patch.ts";

/** The parts of admission.k8s.io/v1 AdmissionRequest used here. */
export interface ReviewRequest {
  uid: string;
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  name?: string;
  namespace?: string;
  userInfo?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
}

export interface ReviewResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  warnings?: string[];
  patchType?: "JSONPatch";
  patch?: string;
}

export type AdmissionMethod = "validate" | "mutate";
export type FailurePolicy = "Fail" | "Ignore";
export type AdmissionOutcome = "allowed" | "denied" | "mutated" | "failed-denied" | "failed-allowed";

/** What the handler knows of a reconciler's active revision. */
export interface AdmissionTarget {
  reconciler: string;
  number: number;
  /** The sandbox ids of the revision's admission copies; calls take them in turn. */
  sandboxIds: string[];
  for: KindRef;
  hasValidate: boolean;
  hasMutate: boolean;
  failurePolicy: FailurePolicy;
  /** The webhook's timeoutSeconds: the deadline of the whole answer. */
  timeoutSeconds: number;
  /** `validate` also sees DELETE (annotation `chakrator.dev/admission-validate-delete`). */
  validateDelete: boolean;
}

export interface ReviewDeps {
  /** The sandbox (one host or the fleet of hosts): only `call` is used. */
  sandbox: Pick<Sandbox, "call">;
  /** Cache reads for ctx.get/list, and log/event of the call. */
  bridge(target: AdmissionTarget, object: KubeObject): HostBridge;
  /** A failure worth telling the reconciler's author: Event + log. */
  onFailure(target: AdmissionTarget, method: AdmissionMethod, message: string): void;
  onOutcome(target: AdmissionTarget | undefined, method: AdmissionMethod, outcome: AdmissionOutcome, seconds: number): void;
}

let turn = 0;

/** Time kept back from timeoutSeconds for the answer's way back. */
const ANSWER_MARGIN_MS = 250;

/** Answers one review for `target` (undefined: the reconciler is gone here, so nothing to say). */
export async function review(deps: ReviewDeps, method: AdmissionMethod, target: AdmissionTarget | undefined, request: ReviewRequest): Promise<ReviewResponse> {
  const started = performance.now();
  const answer = (outcome: AdmissionOutcome, response: Omit<ReviewResponse, "uid">): ReviewResponse => {
    deps.onOutcome(target, method, outcome, (performance.now() - started) / 1000);
    return { uid: request.uid, ...response };
  };
  const has = method === "validate" ? target?.hasValidate : target?.hasMutate;
  const object = (request.operation === "DELETE" ? request.oldObject : request.object) ?? undefined;
  // The newest revision has no such export (its configuration is being removed), or
  // the object is on its way out: nothing to check.
  if (!target || !has || !object) return answer("allowed", { allowed: true });
  if (request.operation === "UPDATE" && object.metadata.deletionTimestamp) return answer("allowed", { allowed: true });

  const input = {
    object: object as Resource,
    request: {
      uid: request.uid,
      operation: request.operation,
      userInfo: { username: request.userInfo?.username ?? "", ...pick(request.userInfo, ["uid", "groups", "extra"]) } as JsonValue,
      dryRun: request.dryRun === true,
      ...(request.oldObject ? { oldObject: request.oldObject as Resource } : {}),
    } satisfies Omit<AdmissionRequest, "operation" | "userInfo"> & { operation: string; userInfo: JsonValue },
  };
  // A timer cleared when the answer is in (not AbortSignal.timeout, whose timer cannot be
  // cleared: every call's would fire seconds later, raising a DOMException no one reads).
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), Math.max(100, target.timeoutSeconds * 1000 - ANSWER_MARGIN_MS));
  const signal = deadline.signal;
  const bridge = deps.bridge(target, object);
  const sandboxId = target.sandboxIds[turn++ % target.sandboxIds.length]!;
  const fail = (detail: string): ReviewResponse => {
    const message = `${target.reconciler} revision ${target.number}: ${detail}`;
    deps.onFailure(target, method, message);
    return target.failurePolicy === "Ignore"
      ? answer("failed-allowed", { allowed: true, warnings: [`${method} failed and failurePolicy is Ignore: ${message}`] })
      : answer("failed-denied", { allowed: false, status: { code: 500, reason: "InternalError", message } });
  };
  try {
    if (method === "validate") {
      const result = await deps.sandbox.call(sandboxId, "validate", input, bridge, { signal });
      const warnings = result.warnings && result.warnings.length > 0 ? { warnings: result.warnings } : {};
      return result.allowed
        ? answer("allowed", { allowed: true, ...warnings })
        : answer("denied", { allowed: false, status: { code: 403, reason: "Forbidden", message: result.message }, ...warnings });
    }
    const mutated = await deps.sandbox.call(sandboxId, "mutate", input, bridge, { signal });
    const changed = protectedChange(object, mutated);
    if (changed !== undefined) return fail(`mutate may not change ${changed}`);
    const patch = jsonPatch(object, mutated);
    if (patch.length === 0) return answer("allowed", { allowed: true });
    return answer("mutated", { allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") });
  } catch (err: unknown) {
    if (signal.aborted) return fail(`${method} did not answer within the webhook's ${target.timeoutSeconds} s (it waited for a free isolate or ran too long)`);
    return fail(err instanceof SandboxError ? userMessage(err) : err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(timer);
  }
}

function pick<T extends object>(value: T | undefined, keys: Array<keyof T>): Partial<T> {
  const out: Partial<T> = {};
  for (const key of keys) if (value?.[key] !== undefined) out[key] = value[key];
  return out;
}
