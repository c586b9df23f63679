// GET /api/reconcilers/:ns/:name/rbac on the real control plane: the YAML of what the
// reconciler's kinds need, and what its ServiceAccount lacks, before and after that
// YAML is applied; the annotations choose the ServiceAccount and the scope; only
// people who may read the ConfigMap may ask.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../kube/client.ts";
import type { ReconcilerRbac } from "./protocol.ts";
import { call, startFixture, type Fixture } from "./test-fixture.ts";

describe("the reconciler's RBAC in the editor", () => {
  let f: Fixture;
  before(async () => { f = await startFixture("rbac-api"); });
  after(async () => {
    await f.admin.delete("rbac.authorization.k8s.io/v1", "ClusterRole", `chakrator:${f.ns}:reconciler`).catch(() => {});
    await f.stop();
  });
  const get = async (token = f.info.adminToken) => call(f.url, "GET", `/api/reconcilers/${f.ns}/reconciler/rbac`, { token });

  it("offers the YAML for its kinds and lists what its ServiceAccount lacks, until that YAML is applied", async () => {
    const r = await get();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const body = r.body as ReconcilerRbac;
    assert.equal(body.serviceAccount, `${f.ns}/default`);
    assert.equal(body.clusterWide, false);
    const docs = parseAllDocuments(body.yaml).map((d) => d.toJS() as KubeObject & { rules?: Array<{ resources: string[]; verbs: string[] }> });
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.namespace}/${d.metadata.name}`), [`ServiceAccount/${f.ns}/default`, `Role/${f.ns}/reconciler`, `RoleBinding/${f.ns}/reconciler`]);
    assert.deepEqual(docs[1]!.rules!.find((x) => x.resources.includes("myresources"))?.verbs, ["get", "list", "patch", "watch"], "the seed has finalize");
    // The namespace's default ServiceAccount may do none of it.
    const lacks = body.missing!.map((m) => `${m.group}/${m.resource} ${m.verb}`);
    assert.equal(lacks.length, 15);
    assert.ok(lacks.includes("example.com/myresources/status patch") && lacks.includes("/configmaps create") && lacks.includes("/events create"));
    assert.ok(body.missing!.every((m) => m.namespace === f.ns));
    for (const d of docs) await f.admin.apply(d, { fieldManager: "chakrator-tests", force: true });
    const after = (await get()).body as ReconcilerRbac;
    assert.deepEqual(after.missing, []);
  });

  it("follows the ConfigMap's service-account and watch-namespace annotations", async () => {
    await f.admin.patch("v1", "ConfigMap", "reconciler", f.ns, { metadata: { annotations: { "chakrator.dev/service-account": "web", "chakrator.dev/watch-namespace": "*" } } });
    const body = (await get()).body as ReconcilerRbac;
    assert.equal(body.serviceAccount, `${f.ns}/web`);
    assert.equal(body.clusterWide, true);
    assert.deepEqual(parseAllDocuments(body.yaml).map((d) => (d.toJS() as KubeObject).kind), ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]);
    assert.equal(body.missing!.length, 15);
    assert.ok(body.missing!.every((m) => m.namespace === undefined), "checked cluster-wide");
  });

  it("answers only people who may read the reconciler ConfigMap", async () => {
    assert.equal((await get(f.info.userToken)).status, 403);
    assert.equal((await call(f.url, "GET", `/api/reconcilers/${f.ns}/reconciler/rbac`)).status, 401);
  });
});
