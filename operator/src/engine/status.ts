/**
 * Status: the user's status fields plus `observedGeneration` and a `Ready` condition
 * in the standard shape (type, status, reason, message, lastTransitionTime,
 * observedGeneration). `lastTransitionTime` only moves when `status` flips, and
 * `statusPatch` returns undefined when the live status already says the same, so a
 * converged resource gets no status write at all.
 */
import type { KubeObject } from "../kube/client.ts";
import { contains } from "./children.ts";

export interface ReadyCondition {
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

interface Condition extends ReadyCondition {
  type: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/**
 * The status subresource merge patch for `res`, or undefined when nothing would change.
 * `userStatus` undefined keeps the user's fields as they are (used on errors).
 */
export function statusPatch(res: KubeObject, userStatus: Record<string, unknown> | undefined, ready: ReadyCondition, now: Date): { status: Record<string, unknown> } | undefined {
  const live = (res.status ?? {}) as Record<string, unknown> & { conditions?: Condition[] };
  const liveReady = live.conditions?.find((c) => c.type === "Ready");
  const generation = res.metadata.generation;
  const condition: Condition = {
    type: "Ready",
    ...ready,
    message: ready.message.slice(0, 32_000),
    lastTransitionTime: liveReady && liveReady.status === ready.status ? liveReady.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, "Z"),
  };
  if (generation !== undefined) condition.observedGeneration = generation;
  const others = (live.conditions ?? []).filter((c) => c.type !== "Ready");
  const base: Record<string, unknown> = userStatus === undefined ? stripOwn(live) : { ...userStatus };
  const status: Record<string, unknown> = { ...base, conditions: [...others, condition] };
  if (generation !== undefined && (ready.status === "True" || live.observedGeneration === undefined)) status.observedGeneration = generation;
  else if (live.observedGeneration !== undefined) status.observedGeneration = live.observedGeneration;
  if (contains(live, status) && sameKeys(live, status)) return undefined;
  // A JSON merge patch: fields the user no longer returns are set to null (removed).
  // Not server-side apply: when a CRD's status schema does not declare a field the
  // reconciler returns (and does not preserve unknown fields), SSA fails the whole write
  // ("field not declared in schema"), Ready condition included; a merge patch writes what
  // the schema allows and the API server prunes the rest, as it does for kubectl.
  for (const k of Object.keys(live)) if (!(k in status)) status[k] = null;
  return { status };
}

function stripOwn(live: Record<string, unknown>): Record<string, unknown> {
  const { conditions: _c, observedGeneration: _g, ...rest } = live;
  return rest;
}

/** True when `live` has no top-level user field that `next` would drop. */
function sameKeys(live: Record<string, unknown>, next: Record<string, unknown>): boolean {
  return Object.keys(live).every((k) => k in next);
}
