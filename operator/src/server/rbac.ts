/**
 * `GET /api/reconcilers/:ns/:name/rbac`: the least RBAC the reconciler's active
 * revision needs (its `for`, `owns` and `finalize`, the same rules and YAML as
 * `chakrator rbac`, kube/rbac.ts), and which of those permissions its ServiceAccount
 * lacks now.
 *
 * - Who may ask: whoever may read the reconciler ConfigMap (it is read with the
 *   person's own client, so RBAC decides; 403/404 pass through).
 * - The ServiceAccount is the one the ConfigMap's `chakrator.dev/service-account`
 *   annotation names, else `default`, in the ConfigMap's namespace; the scope follows
 *   `chakrator.dev/watch-namespace` ("*": a ClusterRole).
 * - Resource names come from the operator's discovery; a kind the API server does not
 *   serve gets the plural rule (kube/discovery.ts).
 * - What is missing is asked with one SubjectAccessReview per verb and resource, made
 *   by the operator. Where the operator may not create SubjectAccessReviews, `missing`
 *   is absent and `problem` says why; the YAML is still given.
 * - 409 when the reconciler has no accepted revision yet (nothing to read kinds from).
 */
import Router from "@koa/router";
import type { Context } from "koa";
import { stringify } from "yaml";
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import { guessPlural } from "../kube/discovery.ts";
import { rbacObjects, rbacRules, type RbacKind } from "../kube/rbac.ts";
import type { Operator } from "../operator.ts";
import { principal } from "./auth.ts";
import { ApiError } from "./errors.ts";
import type { ReconcilerRbac } from "./protocol.ts";

/** The ServiceAccount a reconciler names, when its ConfigMap does not say. */
export const DEFAULT_RECONCILER_SERVICE_ACCOUNT = "default";

async function kindOf(client: KubeClient, k: { apiVersion: string; kind: string }): Promise<RbacKind> {
  const group = k.apiVersion.includes("/") ? k.apiVersion.slice(0, k.apiVersion.indexOf("/")) : "";
  try {
    const info = await client.resource(k.apiVersion, k.kind);
    return { group, resource: info.plural, namespaced: info.namespaced };
  } catch {
    return { group, resource: guessPlural(k.kind), namespaced: true };
  }
}

/** The rbac route, mounted under /api after authentication. */
export function rbacRoutes(deps: { operator: Operator }): Router {
  const { operator } = deps;
  const router = new Router({ prefix: "/api" });
  router.get("/reconcilers/:ns/:name/rbac", async (ctx: Context) => {
    const ns = String(ctx.params["ns"] ?? "");
    const name = String(ctx.params["name"] ?? "");
    const p = principal(ctx);
    const cm = await p.client.request<KubeObject>("GET", `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps/${encodeURIComponent(name)}`);
    const active = operator.sources.state(`${ns}/${name}`)?.active;
    if (!active) throw new ApiError(409, "Conflict", `${ns}/${name} has no accepted revision yet: its kinds are not known`);
    const annotations = cm.metadata.annotations ?? {};
    const sa = annotations["chakrator.dev/service-account"] || DEFAULT_RECONCILER_SERVICE_ACCOUNT;
    const watch = annotations["chakrator.dev/watch-namespace"] || undefined;
    const forKind = await kindOf(operator.client, active.for);
    const owns = await Promise.all(active.owns.map((o) => kindOf(operator.client, o)));
    const rules = rbacRules(forKind, owns, active.hasFinalize);
    const clusterWide = watch === "*" || [forKind, ...owns].some((k) => !k.namespaced);
    const objects = rbacObjects({ name, namespace: ns, serviceAccount: sa, rules, clusterWide, ...(watch !== undefined && watch !== "*" ? { watchNamespace: watch } : {}) });
    const out: ReconcilerRbac = {
      serviceAccount: `${ns}/${sa}`,
      clusterWide,
      yaml: objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"),
    };
    const where = clusterWide ? undefined : (watch ?? ns);
    const user = `system:serviceaccount:${ns}:${sa}`;
    const checks = rules.flatMap((r) => r.apiGroups.flatMap((group) => r.resources.flatMap((resource) => r.verbs.map((verb) => ({ group, resource, verb })))));
    try {
      const answers = await Promise.all(checks.map(async (c) => {
        const [res, sub] = c.resource.split("/");
        const review = await operator.client.request<{ status?: { allowed?: boolean } }>("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: { user, groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"], resourceAttributes: { group: c.group, resource: res, ...(sub ? { subresource: sub } : {}), verb: c.verb, ...(where ? { namespace: where } : {}) } },
          },
        });
        return review.status?.allowed === true;
      }));
      out.missing = checks.filter((_, i) => !answers[i]).map((c) => ({ ...c, ...(where ? { namespace: where } : {}) }));
    } catch (err: unknown) {
      out.problem = err instanceof KubeApiError && err.status === 403
        ? "the operator may not create SubjectAccessReviews, so it cannot tell what the ServiceAccount lacks"
        : `could not check the ServiceAccount's permissions: ${err instanceof Error ? err.message : String(err)}`;
    }
    ctx.body = out;
  });
  return router;
}
