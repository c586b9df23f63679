// The RBAC rules of a reconciler, as pure functions: what each kind gets, merging, and
// the objects for one namespace, another watched namespace, or the whole cluster.
import assert from "node:assert/strict";
import { it } from "node:test";
import { rbacObjects, rbacRules } from "./rbac.ts";

it("grants the for kind, its subresources, each owned kind and events, merging one group's same verbs", () => {
  const rules = rbacRules({ group: "example.com", resource: "websites", namespaced: true }, [
    { group: "", resource: "services", namespaced: true },
    { group: "", resource: "configmaps", namespaced: true },
    { group: "apps", resource: "deployments", namespaced: true },
  ], false);
  assert.deepEqual(rules, [
    { apiGroups: [""], resources: ["configmaps", "services"], verbs: ["create", "delete", "get", "list", "patch", "watch"] },
    { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
    { apiGroups: ["apps"], resources: ["deployments"], verbs: ["create", "delete", "get", "list", "patch", "watch"] },
    { apiGroups: ["example.com"], resources: ["websites"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["example.com"], resources: ["websites/status"], verbs: ["patch", "update"] },
    { apiGroups: ["example.com"], resources: ["websites/finalizers"], verbs: ["update"] },
  ]);
  // finalize adds patch of the for kind; no owns, no finalizers subresource.
  const alone = rbacRules({ group: "example.com", resource: "archives", namespaced: true }, [], true);
  assert.deepEqual(alone.find((r) => r.resources.includes("archives"))?.verbs, ["get", "list", "patch", "watch"]);
  assert.ok(!alone.some((r) => r.resources.includes("archives/finalizers")));
  // A reconciler that owns its own kind gets both sets of verbs on it, once.
  const self = rbacRules({ group: "", resource: "configmaps", namespaced: true }, [{ group: "", resource: "configmaps", namespaced: true }], false);
  assert.deepEqual(self.filter((r) => r.resources.includes("configmaps")), [{ apiGroups: [""], resources: ["configmaps"], verbs: ["create", "delete", "get", "list", "patch", "watch"] }]);
});

it("makes a ServiceAccount with a Role and binding, in the watched namespace when given, or cluster-wide", () => {
  const rules = rbacRules({ group: "", resource: "configmaps", namespaced: true }, [], false);
  const kinds = (o: ReturnType<typeof rbacObjects>) => o.map((x) => `${x.kind}/${x.metadata.namespace ?? "-"}/${x.metadata.name}`);
  assert.deepEqual(kinds(rbacObjects({ name: "r", namespace: "a", serviceAccount: "sa", rules, clusterWide: false })), ["ServiceAccount/a/sa", "Role/a/r", "RoleBinding/a/r"]);
  assert.deepEqual(kinds(rbacObjects({ name: "r", namespace: "a", serviceAccount: "sa", rules, clusterWide: false, watchNamespace: "b" })), ["ServiceAccount/a/sa", "Role/b/r", "RoleBinding/b/r"]);
  const wide = rbacObjects({ name: "r", namespace: "a", serviceAccount: "sa", rules, clusterWide: true });
  assert.deepEqual(kinds(wide), ["ServiceAccount/a/sa", "ClusterRole/-/chakrator:a:r", "ClusterRoleBinding/-/chakrator:a:r"]);
  assert.deepEqual(wide[2]!["subjects"], [{ kind: "ServiceAccount", name: "sa", namespace: "a" }]);
});
