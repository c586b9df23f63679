/**
 * Checks of what user code passes to `ctx.get`, `ctx.list` and `ctx.event`, done in
 * the host before anything reaches the operator: the operator's bridge only ever sees
 * well-typed arguments, and user code gets a clear message for bad ones.
 */
import type { EventInput, JsonValue } from "../../types/chakrator.d.ts";
import type { BridgeOp } from "./protocol.ts";

type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses the JSON arguments of `ctx.get(kind, name, namespace?)` / `ctx.list(kind, options?)`. */
export function parseBridgeArgs(op: string, argsJson: string): Checked<BridgeOp> {
  let args: unknown;
  try {
    args = JSON.parse(argsJson);
  } catch {
    return { ok: false, message: `ctx.${op}: arguments are not JSON` };
  }
  if (!Array.isArray(args)) return { ok: false, message: `ctx.${op}: bad arguments` };
  const kind = args[0] as unknown;
  if (!isRecord(kind) || !nonEmpty(kind["apiVersion"]) || !nonEmpty(kind["kind"])) {
    return { ok: false, message: `ctx.${op}: the first argument must be a kind { apiVersion, kind }` };
  }
  const kindRef = { apiVersion: kind["apiVersion"], kind: kind["kind"] };
  if (op === "get") {
    const name = args[1] as unknown;
    const namespace = args[2] as unknown;
    if (!nonEmpty(name)) return { ok: false, message: "ctx.get: name must be a non-empty string" };
    if (namespace !== null && namespace !== undefined && typeof namespace !== "string") {
      return { ok: false, message: "ctx.get: namespace must be a string when given" };
    }
    return { ok: true, value: typeof namespace === "string" ? { op, kind: kindRef, name, namespace } : { op, kind: kindRef, name } };
  }
  if (op === "list") {
    const options = args[1] as unknown;
    if (options === null || options === undefined) return { ok: true, value: { op, kind: kindRef } };
    if (!isRecord(options)) return { ok: false, message: "ctx.list: options must be an object { namespace?, labels? }" };
    const { namespace, labels } = options;
    if (namespace !== undefined && typeof namespace !== "string") return { ok: false, message: "ctx.list: options.namespace must be a string" };
    if (labels !== undefined && (!isRecord(labels) || Object.values(labels).some((v) => typeof v !== "string"))) {
      return { ok: false, message: "ctx.list: options.labels must map strings to strings" };
    }
    return {
      ok: true,
      value: {
        op,
        kind: kindRef,
        options: {
          ...(namespace !== undefined ? { namespace } : {}),
          ...(labels !== undefined ? { labels: labels as Record<string, string> } : {}),
        },
      },
    };
  }
  return { ok: false, message: `ctx.${op} does not exist` };
}

/** Parses the JSON of `ctx.event(...)`. */
export function parseEvent(json: string): Checked<EventInput> {
  let event: unknown;
  try {
    event = JSON.parse(json);
  } catch {
    return { ok: false, message: "ctx.event: the event is not JSON" };
  }
  if (!isRecord(event)) return { ok: false, message: "ctx.event: the event must be an object { type?, reason, message }" };
  const { type, reason, message } = event;
  if (type !== undefined && type !== "Normal" && type !== "Warning") return { ok: false, message: 'ctx.event: type must be "Normal" or "Warning"' };
  if (!nonEmpty(reason)) return { ok: false, message: "ctx.event: reason must be a non-empty string" };
  if (typeof message !== "string") return { ok: false, message: "ctx.event: message must be a string" };
  return { ok: true, value: type === undefined ? { reason, message } : { type, reason, message } };
}

/** Parses log fields JSON; anything but an object is wrapped as `{ value }`. */
export function parseFields(json: string): Record<string, JsonValue> | undefined {
  if (json === "") return undefined;
  try {
    const fields = JSON.parse(json) as JsonValue;
    return isRecord(fields) ? (fields as Record<string, JsonValue>) : { value: fields };
  } catch {
    return { fieldsError: "log fields are not JSON" };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}
