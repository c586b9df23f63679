// Error handling: what happens when a reconciler cannot do its job.
//
// - Invalid input: `reconcile` throws an Error whose message says what to fix. The
//   engine turns it into Ready=False (reason ReconcileError, the message verbatim), a
//   Warning Event and an error log line, and retries the resource with per-object
//   exponential backoff (5 ms doubling up to 1000 s), so a bad object never blocks
//   the others. Fixing the spec triggers a reconcile at once (a new generation).
// - A problem worth telling but not fatal: `ctx.event` with type Warning, and go on.
// - Children are only applied when `reconcile` returns: a throw changes nothing in
//   the cluster (the children of the last success stay as they are).
import type { Reconciler, Resource } from "chakrator";
import { problems, type ShortlinkSpec } from "./validate.ts";

interface Shortlink extends Resource {
  spec: ShortlinkSpec;
}

export default {
  for: { apiVersion: "example.com/v1", kind: "Shortlink" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(link: Shortlink, ctx) {
    const found = problems(link.spec);
    if (found.length > 0) {
      throw new Error(`invalid Shortlink: ${found.join("; ")}`);
    }
    if (link.spec.target.startsWith("http:")) {
      ctx.event({ type: "Warning", reason: "InsecureTarget", message: `${link.spec.target} is not https; browsers may warn` });
    }
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `shortlink-${link.spec.slug}` },
          data: { slug: link.spec.slug, target: link.spec.target },
        },
      ],
      status: { path: `/s/${link.spec.slug}`, target: link.spec.target },
    };
  },
} satisfies Reconciler<Shortlink>;
