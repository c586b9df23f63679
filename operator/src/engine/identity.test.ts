// Per-reconciler identity (issue 11), with real RBAC on the real API server. The
// operator runs as an administrator, yet each reconciler acts only as the
// ServiceAccount its ConfigMap names: a ServiceAccount that may only write ConfigMaps
// in its namespace cannot make the operator write anything else, and each refusal says
// what is missing; granted what `chakrator rbac` prints, the same reconciler works.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installTestCrd, kubeConfig, putReconciler, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { rbacObjects, rbacRules } from "../kube/rbac.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }>; [k: string]: unknown } };
type EventObj = KubeObject & { reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } };

describe("per-reconciler identity by impersonation", () => {
  let admin: KubeClient;
  let ns: string;
  let other: string;
  let op: Operator;
  let app: { apiVersion: string; kind: string };
  const bus = new LogBus({ stdout: false });

  const reconciler = (owns: string, children: string) => `import type { Reconciler, Resource } from "chakrator";
export default {
  for: { apiVersion: "${app.apiVersion}", kind: "${app.kind}" },
  owns: [${owns}],
  async reconcile(res: Resource, ctx) {
    return { children: [${children}], status: { seen: true } };
  },
} satisfies Reconciler;
`;
  const put = (data: Record<string, string>, annotations: Record<string, string>) => putReconciler(admin, ns, "team", data, annotations);
  const events = async (namespace: string) => (await admin.list<EventObj>("v1", "Event", { namespace })).items;
  const ready = async (name: string) => (await admin.get<Obj>(app.apiVersion, app.kind, name, ns))?.status?.conditions?.find((c) => c.type === "Ready");
  const revision = () => op.sources.state(`${ns}/team`)?.active?.number ?? 0;
  const grant = async (rules: ReturnType<typeof rbacRules>, name: string) => {
    for (const obj of rbacObjects({ name, namespace: ns, serviceAccount: "team-bot", rules, clusterWide: false })) await admin.apply(obj, { fieldManager: "test", force: true });
  };

  before(async () => {
    const info = await testCluster();
    app = await installTestCrd(info, "TeamApp");
    ns = await testNamespace(info, "team");
    other = await testNamespace(info, "elsewhere");
    admin = KubeClient.fromKubeConfig(kubeConfig(info));
    // The ServiceAccount may write ConfigMaps in its namespace and read its own kind; nothing more.
    await grant([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "delete", "get", "list", "patch", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
      { apiGroups: ["test.chakrator.dev"], resources: ["teamapps"], verbs: ["get", "list", "watch"] },
    ], "configmaps-only");
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus, impersonate: true });
    await admin.create({ ...app, metadata: { name: "a1", namespace: ns }, spec: {} });
  });
  after(async () => {
    await op?.stop(2_000);
    admin?.close();
  });

  it("refuses a Deployment child: the watch of Deployments is forbidden to the ServiceAccount, and the ConfigMap's Event says so", async () => {
    await put({ "reconciler.ts": reconciler(`{ apiVersion: "apps/v1", kind: "Deployment" }`, "") }, { "chakrator.dev/service-account": "team-bot" });
    await eventually(() => revision() >= 1, 15_000, "revision 1");
    const refused = await eventually(async () => (await events(ns)).find((e) => e.reason === "WatchForbidden" && e.involvedObject?.name === "team"), 20_000, "WatchForbidden Event");
    assert.match(refused.message ?? "", /ServiceAccount .*team-bot may not list\/watch Deployment in namespace/);
    assert.match(refused.message ?? "", /cannot (list|watch) resource "deployments" in API group "apps"/);
    assert.equal((await admin.list("apps/v1", "Deployment", { namespace: ns })).items.length, 0);
  });

  it("refuses watch-namespace \"*\": the ServiceAccount may not list its kind cluster-wide", async () => {
    const before = (await events(ns)).filter((e) => e.reason === "WatchForbidden").length;
    await put({ "reconciler.ts": reconciler(`{ apiVersion: "v1", kind: "ConfigMap" }`, "") }, { "chakrator.dev/service-account": "team-bot", "chakrator.dev/watch-namespace": "*" });
    await eventually(async () => (await events(ns)).filter((e) => e.reason === "WatchForbidden" && /in all namespaces/.test(e.message ?? "")).length > 0 || undefined, 20_000, "WatchForbidden for all namespaces");
    assert.ok((await events(ns)).filter((e) => e.reason === "WatchForbidden").length > before);
  });

  it("cannot write a status it was not granted: the Warning Event on the resource names the verb and resource, as kubectl auth can-i would", async () => {
    await put({ "reconciler.ts": reconciler(`{ apiVersion: "v1", kind: "ConfigMap" }`, `{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-child" }, data: { a: "b" } }`) }, { "chakrator.dev/service-account": "team-bot" });
    // The child is allowed; the status patch is not (no teamapps/status in its Role).
    await eventually(async () => (await admin.get("v1", "ConfigMap", "a1-child", ns)) !== undefined || undefined, 20_000, "child written as the ServiceAccount");
    const warning = await eventually(async () => (await events(ns)).find((e) => e.involvedObject?.name === "a1" && /teamapps\/status/.test(e.message ?? "")), 20_000, "a Warning naming teamapps/status");
    assert.match(warning.message ?? "", /User "system:serviceaccount:[^"]+:team-bot" cannot patch resource "teamapps\/status"/);
    assert.match(warning.message ?? "", /grant ServiceAccount .*\/team-bot this permission/);
    // Nothing was written in another namespace.
    assert.equal((await admin.list("v1", "ConfigMap", { namespace: other })).items.filter((c) => c.metadata.name.startsWith("a1")).length, 0);
  });

  it("works once the ServiceAccount is granted what chakrator rbac prints", async () => {
    await grant(rbacRules({ group: "test.chakrator.dev", resource: "teamapps", namespaced: true }, [{ group: "", resource: "configmaps", namespaced: true }], false), "from-chakrator-rbac");
    await admin.patch(app.apiVersion, app.kind, "a1", ns, { metadata: { labels: { poke: "1" } } });
    await eventually(async () => (await ready("a1"))?.reason === "Reconciled", 20_000, "Reconciled as the ServiceAccount");
    const obj = await admin.get<Obj>(app.apiVersion, app.kind, "a1", ns);
    assert.equal(obj?.status?.seen, true);
  });

  it("never writes a child into another namespace, even with the grant", async () => {
    await put({ "reconciler.ts": reconciler(`{ apiVersion: "v1", kind: "ConfigMap" }`, `{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "escape", namespace: "${other}" }, data: { a: "b" } }`) }, { "chakrator.dev/service-account": "team-bot" });
    await eventually(async () => (await ready("a1"))?.reason === "InvalidChild", 20_000, "InvalidChild");
    assert.match((await ready("a1"))!.message, new RegExp(`namespace ${other} differs from the resource's`));
    assert.equal(await admin.get("v1", "ConfigMap", "escape", other), undefined);
  });
});
