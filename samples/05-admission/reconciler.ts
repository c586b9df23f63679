// Admission: the same module that reconciles a Worker also checks and defaults it
// before the API server stores it, so `kubectl apply` of a bad spec fails at once:
//   error: ... admission webhook "worker-reconciler.chakrator-system.validate.chakrator.dev"
//   denied the request: spec.replicas must be at most 10, got 50
//
// - `mutate` runs first and returns the object as it should be stored: here with
//   defaults filled in. The operator sends the API server the JSON Patch of the
//   difference. It may not change apiVersion, kind, metadata.name/namespace or status.
// - `validate` then answers { allowed } or { allowed: false, message }. `request`
//   says CREATE or UPDATE, who asks, and on UPDATE the stored object (`oldObject`):
//   here a Worker's queue may not change once created.
// - Both run in the reconciler's sandbox with a 1 s limit; a throw or a timeout denies
//   the request (failurePolicy Fail) with a message naming the revision.
// - `reconcile` still runs on what was stored, so it can rely on the defaults.
import type { Reconciler, Resource } from "chakrator";
import { problems, withDefaults, type WorkerSpec } from "./rules.ts";

interface Worker extends Resource {
  spec: WorkerSpec;
}

export default {
  for: { apiVersion: "example.com/v1", kind: "Worker" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],

  mutate(worker: Worker) {
    return { ...worker, spec: withDefaults(worker.spec) };
  },

  validate(worker: Worker, ctx, request) {
    const found = problems(worker.spec);
    const before = request.oldObject?.spec.queue;
    if (request.operation === "UPDATE" && before !== undefined && before !== worker.spec.queue) {
      found.push(`spec.queue cannot change (it is "${before}"); create a new Worker instead`);
    }
    if (found.length > 0) return { allowed: false, message: found.join("; ") };
    const warnings = worker.spec.replicas === 0 ? ["spec.replicas is 0: the worker is paused"] : [];
    return { allowed: true, warnings };
  },

  reconcile(worker: Worker) {
    // The defaults are there: mutate filled them in before the object was stored.
    const spec = withDefaults(worker.spec);
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `worker-${worker.metadata.name}` },
          data: { queue: spec.queue, replicas: String(spec.replicas), concurrency: String(spec.concurrency) },
        },
      ],
      status: { queue: spec.queue, capacity: spec.replicas * spec.concurrency },
    };
  },
} satisfies Reconciler<Worker>;
