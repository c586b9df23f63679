/**
 * Shape checks of what a reconciler returns, run in the host on the parsed JSON (the
 * isolate already refused non-JSON values). A result that passes is safe for the
 * engine to use as typed: `reconcile` gives `{ children?, status?, requeueAfterSeconds? }`
 * with well-formed children, `finalize` gives `{ done, requeueAfterSeconds? }`.
 * Unknown top-level keys are refused: they are typos (`requeueAfter`) more often than not.
 */
import type { JsonValue } from "../../types/chakrator.d.ts";
import type { CallMethod } from "./types.ts";

type JsonObject = { [key: string]: JsonValue };

/** The longest `requeueAfterSeconds` honoured (24 h); larger values are clamped to it. */
export const MAX_REQUEUE_SECONDS = 24 * 60 * 60;

/** The result if its shape is valid for `method`, else a message saying what is wrong. */
export function checkResultShape(method: CallMethod, input: unknown): { ok: true; value: JsonObject } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  if (!isObject(input)) return fail(`${method} must return an object, got ${describe(input)}`);
  let value: JsonObject = input;
  const allowed = method === "reconcile" ? ["children", "status", "requeueAfterSeconds"] : ["done", "requeueAfterSeconds"];
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) return fail(`unknown field "${key}"; ${method} may return ${allowed.join(", ")}`);
  }
  const requeue = value["requeueAfterSeconds"];
  if (requeue !== undefined && (typeof requeue !== "number" || !Number.isFinite(requeue) || requeue < 0)) {
    return fail(`requeueAfterSeconds must be a number >= 0 and finite, got ${describe(requeue)}`);
  }
  // Longer waits are clamped, not refused: "come back much later" is a fair intent, and
  // the periodic resync re-reconciles every object long before 24 h anyway.
  if (typeof requeue === "number" && requeue > MAX_REQUEUE_SECONDS) value = { ...value, requeueAfterSeconds: MAX_REQUEUE_SECONDS };
  if (method === "finalize") {
    if (typeof value["done"] !== "boolean") return fail(`finalize must return { done: boolean }, got done = ${describe(value["done"])}`);
    return { ok: true, value };
  }
  const status = value["status"];
  if (status !== undefined && !isObject(status)) return fail(`status must be an object, got ${describe(status)}`);
  const children = value["children"];
  if (children !== undefined) {
    if (!Array.isArray(children)) return fail(`children must be an array, got ${describe(children)}`);
    for (const [index, child] of children.entries()) {
      const problem = childProblem(child);
      if (problem !== undefined) return fail(`children[${index}] ${problem}`);
    }
  }
  return { ok: true, value };
}

function childProblem(child: JsonValue): string | undefined {
  if (!isObject(child)) return `must be an object, got ${describe(child)}`;
  for (const field of ["apiVersion", "kind"]) {
    const text = child[field];
    if (typeof text !== "string" || text === "") return `must have a non-empty string ${field}`;
  }
  const metadata = child["metadata"];
  if (!isObject(metadata)) return "must have a metadata object";
  if (typeof metadata["name"] !== "string" || metadata["name"] === "") return "must have a non-empty string metadata.name";
  const namespace = metadata["namespace"];
  if (namespace !== undefined && typeof namespace !== "string") return "metadata.namespace must be a string when present";
  for (const map of ["labels", "annotations"]) {
    const entries = metadata[map];
    if (entries === undefined) continue;
    if (!isObject(entries) || Object.values(entries).some((v) => typeof v !== "string")) return `metadata.${map} must map strings to strings`;
  }
  return undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
