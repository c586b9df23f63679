/**
 * The least RBAC a reconciler needs, from what the engine does with its kinds (one
 * place, for `chakrator rbac` and anything else that shows it): pure functions from
 * kinds to rules and to the ServiceAccount, Role/ClusterRole and binding objects.
 */
import type { KubeObject } from "./client.ts";

/** A kind as RBAC names it. */
export interface RbacKind {
  group: string;
  resource: string;
  namespaced: boolean;
}

/** One RBAC policy rule. */
export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * The rules a reconciler needs, by what the engine does with each kind:
 * - the `for` kind: get, list, watch (its informer, re-reads); patch when it has
 *   `finalize` (the finalizer is added and removed with a patch);
 * - its `status` subresource: patch, update (Ready, observedGeneration, the status);
 * - its `finalizers` subresource: update, when it owns kinds (owner references with
 *   blockOwnerDeletion, where OwnerReferencesPermissionEnforcement is on);
 * - each `owns` kind: create, patch (server-side apply), delete (prune), get, list,
 *   watch (its informer, the read before the first apply);
 * - core `events`: create, patch (Events on its resources; patch bumps a repeated one).
 * Resources of one group with the same verbs share a rule; verbs and resources are sorted.
 */
export function rbacRules(forKind: RbacKind, owns: readonly RbacKind[], hasFinalize: boolean): RbacRule[] {
  const grants = new Map<string, Map<string, Set<string>>>();
  const grant = (group: string, resource: string, verbs: string[]) => {
    const byResource = grants.get(group) ?? new Map<string, Set<string>>();
    grants.set(group, byResource);
    const set = byResource.get(resource) ?? new Set<string>();
    byResource.set(resource, set);
    for (const v of verbs) set.add(v);
  };
  grant(forKind.group, forKind.resource, hasFinalize ? ["get", "list", "watch", "patch"] : ["get", "list", "watch"]);
  grant(forKind.group, `${forKind.resource}/status`, ["patch", "update"]);
  if (owns.length > 0) grant(forKind.group, `${forKind.resource}/finalizers`, ["update"]);
  for (const o of owns) grant(o.group, o.resource, ["create", "delete", "get", "list", "patch", "watch"]);
  grant("", "events", ["create", "patch"]);
  const rules: RbacRule[] = [];
  for (const group of [...grants.keys()].sort()) {
    const byVerbs = new Map<string, string[]>();
    for (const [resource, verbs] of grants.get(group)!) {
      const key = [...verbs].sort().join(",");
      byVerbs.set(key, [...(byVerbs.get(key) ?? []), resource]);
    }
    for (const [verbs, resources] of byVerbs) rules.push({ apiGroups: [group], resources: resources.sort(), verbs: verbs.split(",") });
  }
  return rules;
}

/** Where and for whom: the objects `rbacObjects` makes. */
export interface RbacTarget {
  /** Role (and binding) name; a ClusterRole is named `chakrator:<namespace>:<name>`. */
  name: string;
  /** The reconciler's namespace, where its ServiceAccount lives. */
  namespace: string;
  serviceAccount: string;
  rules: RbacRule[];
  /** ClusterRole and ClusterRoleBinding (watch-namespace "*", or cluster-scoped kinds). */
  clusterWide: boolean;
  /** The namespace it watches when not its own (the Role and binding go there). */
  watchNamespace?: string;
}

/** The ServiceAccount, then the Role and RoleBinding (or ClusterRole and ClusterRoleBinding), ready for `kubectl apply`. */
export function rbacObjects(t: RbacTarget): KubeObject[] {
  const subjects = [{ kind: "ServiceAccount", name: t.serviceAccount, namespace: t.namespace }];
  const labels = { "app.kubernetes.io/managed-by": "chakrator-rbac" };
  const roleRef = (kind: string, name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });
  const objects: KubeObject[] = [{ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: t.serviceAccount, namespace: t.namespace, labels } }];
  if (t.clusterWide) {
    const name = `chakrator:${t.namespace}:${t.name}`;
    objects.push(
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name, labels }, rules: t.rules },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name, labels }, roleRef: roleRef("ClusterRole", name), subjects },
    );
  } else {
    // The resources live in the reconciler's namespace, or in the one it watches.
    const where = t.watchNamespace ?? t.namespace;
    objects.push(
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: t.name, namespace: where, labels }, rules: t.rules },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: t.name, namespace: where, labels }, roleRef: roleRef("Role", t.name), subjects },
    );
  }
  return objects;
}
