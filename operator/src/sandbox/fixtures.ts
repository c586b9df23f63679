/**
 * Test fixtures shared by the sandbox's tests: revision builders, a recording fake
 * bridge, and the health check every hostile test ends with.
 */
import assert from "node:assert/strict";
import type { Resource } from "../../types/chakrator.d.ts";
import type { Sandbox } from "./sandbox.ts";
import type { HostBridge, RevisionLimits, RevisionSource, SandboxEvent } from "./types.ts";

/** A resource whose `spec.mode` picks what a fixture reconciler does. */
export function resource(mode = "ok", name = "demo"): Resource {
  return { apiVersion: "example.com/v1", kind: "Demo", metadata: { name, namespace: "default" }, spec: { mode } };
}

/**
 * A revision whose `reconcile` runs `hostile` (a function body, `res` and `ctx` in
 * scope) when `spec.mode` is "hostile", and otherwise returns `{ status: { ok: true, calls } }`.
 */
export function hostileRevision(id: string, hostile: string, limits: RevisionLimits = { timeoutMs: 300 }): RevisionSource {
  return {
    id,
    entry: "reconciler.ts",
    limits,
    modules: {
      "reconciler.ts": `let calls = 0;
export default {
  for: { apiVersion: "example.com/v1", kind: "Demo" },
  async reconcile(res, ctx) {
    calls++;
    if (res.spec.mode === "hostile") {
      ${hostile}
    }
    return { status: { ok: true, calls } };
  },
};
`,
    },
  };
}

/** The bystander: a revision that counts its calls in module state, to show its isolate survives. */
export const bystander: RevisionSource = hostileRevision("bystander", "throw new Error('never hostile');", { timeoutMs: 2000 });

/** A bridge that records what it is asked and answers from `objects`. */
export function fakeBridge(objects: Resource[] = []): HostBridge & { logs: unknown[][]; events: unknown[]; requests: unknown[][] } {
  const logs: unknown[][] = [];
  const events: unknown[] = [];
  const requests: unknown[][] = [];
  return {
    logs,
    events,
    requests,
    async get(kind, name, namespace) {
      requests.push(["get", kind, name, namespace]);
      return objects.find((o) => o.kind === kind.kind && o.apiVersion === kind.apiVersion && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
    },
    async list(kind, options) {
      requests.push(["list", kind, options]);
      return objects.filter((o) => o.kind === kind.kind && (options?.namespace === undefined || o.metadata.namespace === options.namespace));
    },
    log(level, message, fields) {
      logs.push([level, message, fields]);
    },
    event(event) {
      events.push(event);
    },
  };
}

/**
 * Asserts the sandbox still works after a hostile call: `revisionId` answers a benign
 * call, and the bystander answers with a call count above the last one seen (its
 * isolate, and the module state in it, survived).
 */
export async function assertHealthy(sandbox: Sandbox, revisionId: string, seen: { bystanderCalls: number }): Promise<void> {
  const own = await sandbox.call(revisionId, "reconcile", resource("ok"), fakeBridge());
  assert.equal((own as { status: { ok: boolean } }).status.ok, true);
  const other = (await sandbox.call("bystander", "reconcile", resource("ok"), fakeBridge())) as { status: { calls: number } };
  assert.ok(other.status.calls > seen.bystanderCalls, `bystander state survived: ${other.status.calls} > ${seen.bystanderCalls}`);
  seen.bystanderCalls = other.status.calls;
}

/** Collects events for assertions. */
export function eventLog(): { events: SandboxEvent[]; onEvent: (event: SandboxEvent) => void; count(type: SandboxEvent["type"]): number } {
  const events: SandboxEvent[] = [];
  return { events, onEvent: (event) => events.push(event), count: (type) => events.filter((e) => e.type === type).length };
}
