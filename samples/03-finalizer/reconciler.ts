// Finalizers: an Archive keeps its content in a ConfigMap, and may be protected from
// deletion. Because this reconciler has `finalize`, the engine adds the
// `chakrator.dev/finalizer` finalizer to every Archive; on `kubectl delete` the API
// server only marks it (deletionTimestamp) and the engine calls `finalize`:
//   - while the annotation `example.com/deletion-protection: "true"` is present, it
//     records a Warning Event and returns `done: false` with a requeue, so the
//     Archive stays (Terminating) and `finalize` runs again in 5 s;
//   - once the annotation is gone, it does its cleanup (here: an Event with what is
//     released) and returns `done: true`; the engine removes the finalizer and the
//     API server deletes the Archive (the garbage collector then its ConfigMap).
// `finalize` must be idempotent: it may run several times for one deletion.
import type { Reconciler, Resource } from "chakrator";

interface Archive extends Resource {
  spec: { content: string };
}

const protectionAnnotation = "example.com/deletion-protection";

export default {
  for: { apiVersion: "example.com/v1", kind: "Archive" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(archive: Archive) {
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `${archive.metadata.name}-archive` },
          data: { content: archive.spec.content },
        },
      ],
      status: {
        bytes: archive.spec.content.length,
        protected: archive.metadata.annotations?.[protectionAnnotation] === "true",
      },
    };
  },
  finalize(archive: Archive, ctx) {
    if (archive.metadata.annotations?.[protectionAnnotation] === "true") {
      ctx.log.warn("deletion blocked by annotation", { name: archive.metadata.name });
      ctx.event({
        type: "Warning",
        reason: "DeletionBlocked",
        message: `remove the annotation ${protectionAnnotation} to let this Archive be deleted`,
      });
      return { done: false, requeueAfterSeconds: 5 };
    }
    ctx.event({ reason: "Released", message: `released ${archive.spec.content.length} bytes` });
    ctx.log.info("finalized", { name: archive.metadata.name });
    return { done: true };
  },
} satisfies Reconciler<Archive>;
