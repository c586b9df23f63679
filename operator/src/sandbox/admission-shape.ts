/**
 * Shape checks of what the admission methods return, beside `result-shape.ts` (which
 * checks `reconcile` and `finalize`), run in the host on the parsed JSON. `validate`
 * gives `{ allowed, message?, warnings? }` with a message when it refuses; `mutate`
 * gives an object with apiVersion, kind and metadata. What `mutate` may change is
 * judged outside the sandbox, against the object it was given (admission/patch.ts).
 */
import type { JsonValue } from "../../types/chakrator.d.ts";

type JsonObject = { [key: string]: JsonValue };

/** The answer if its shape is valid for `method`, else a message saying what is wrong. */
export function checkAdmissionShape(method: "validate" | "mutate", value: unknown): { ok: true; value: JsonObject } | { ok: false; message: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, message: `${method} must return an object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}` };
  }
  const answer = value as JsonObject;
  const problem = method === "validate" ? validateProblem(answer) : mutateProblem(answer);
  return problem === undefined ? { ok: true, value: answer } : { ok: false, message: problem };
}

function validateProblem(value: JsonObject): string | undefined {
  for (const key of Object.keys(value)) {
    if (!["allowed", "message", "warnings"].includes(key)) return `unknown field "${key}"; validate may return allowed, message, warnings`;
  }
  if (typeof value["allowed"] !== "boolean") return `validate must return { allowed: boolean }, got allowed = ${JSON.stringify(value["allowed"]) ?? "undefined"}`;
  const message = value["message"];
  if (message !== undefined && typeof message !== "string") return "message must be a string";
  if (value["allowed"] === false && (typeof message !== "string" || message === "")) return "a refusal ({ allowed: false }) needs a non-empty message";
  const warnings = value["warnings"];
  if (warnings !== undefined && (!Array.isArray(warnings) || warnings.some((w) => typeof w !== "string"))) return "warnings must be an array of strings";
  return undefined;
}

function mutateProblem(value: JsonObject): string | undefined {
  const metadata = value["metadata"];
  if (typeof value["apiVersion"] !== "string" || typeof value["kind"] !== "string" || typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    return "mutate must return the object to admit, with apiVersion, kind and metadata";
  }
  return undefined;
}
