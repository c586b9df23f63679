// The seed reconciler: one MyResource -> one ConfigMap carrying its message, and a
// status that echoes it. Edit it in the editor, with `kubectl edit configmap`, or
// here under `skaffold dev`: each accepted edit becomes a new revision.
import type { Reconciler, Resource } from "chakrator";

interface MyResource extends Resource {
  spec: { message: string; replicas?: number };
}

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: MyResource, ctx) {
    ctx.log.info("reconciling", { name: res.metadata.name });
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `${res.metadata.name}-message` },
          data: { message: res.spec.message },
        },
      ],
      status: { message: res.spec.message.toUpperCase() },
      requeueAfterSeconds: 300,
    };
  },
  finalize(res, ctx) {
    ctx.log.info("finalizing", { name: res.metadata.name });
    return { done: true };
  },
} satisfies Reconciler<MyResource>;
