/**
 * The baseline for throughput.bench.ts: an operator built the seed's way, on
 * `@dot-i/k8s-operator` (one global event queue, no retries), with the same reconcile
 * logic as samples/01-message called in-process (no sandbox, no type-check). It writes
 * the same child ConfigMap and the same status shape (user fields, observedGeneration,
 * a Ready condition) so that "Ready" means the same thing for every contender.
 */
import type * as DotI from "@dot-i/k8s-operator";
import type { ResourceEvent } from "@dot-i/k8s-operator";
import { createRequire } from "node:module";

// A CommonJS package whose class is `exports.default`.
const lib = createRequire(import.meta.url)("@dot-i/k8s-operator") as typeof DotI.default;

interface MyResource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string; generation?: number };
  spec: { message: string };
  status?: { observedGeneration?: number };
}

/** The seed reconciler's logic, in-process. */
export function reconcileMessage(res: MyResource): { child: Record<string, unknown>; status: Record<string, unknown> } {
  return {
    child: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: `${res.metadata.name}-message`,
        namespace: res.metadata.namespace,
        labels: { "chakrator.dev/owner-uid": res.metadata.uid },
        ownerReferences: [{ apiVersion: res.apiVersion, kind: res.kind, name: res.metadata.name, uid: res.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      data: { message: res.spec.message },
    },
    status: {
      message: res.spec.message.toUpperCase(),
      observedGeneration: res.metadata.generation ?? 1,
      conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: "1 child in sync", lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"), observedGeneration: res.metadata.generation ?? 1 }],
    },
  };
}

/** Watches MyResources in one namespace and reconciles them the seed's way. */
export class BaselineOperator extends lib.default {
  readonly #namespace: string;

  constructor(namespace: string) {
    super({ debug() {}, info() {}, warn: (m: string) => console.error(`baseline: ${m}`), error: (m: string) => console.error(`baseline: ${m}`) });
    this.#namespace = namespace;
  }

  protected override async init(): Promise<void> {
    await this.watchResource("example.com", "v1", "myresources", async (e: ResourceEvent) => {
      if (e.type === "DELETED") return;
      const res = e.object as unknown as MyResource;
      // Its own status write comes back as MODIFIED: skip what it already handled.
      if (res.status?.observedGeneration === res.metadata.generation) return;
      const { child, status } = reconcileMessage(res);
      try {
        await this.k8sApi.createNamespacedConfigMap(res.metadata.namespace, child as never);
      } catch (err: unknown) {
        const code = (err as { statusCode?: number; response?: { statusCode?: number } }).response?.statusCode ?? (err as { statusCode?: number }).statusCode;
        if (code !== 409) throw err;
        await this.k8sApi.replaceNamespacedConfigMap(`${res.metadata.name}-message`, res.metadata.namespace, child as never);
      }
      await this.patchResourceStatus(e.meta, status);
    }, this.#namespace);
  }
}
