// No adoption of foreign objects (issue 11), on the real API server: a child whose
// name is taken by an object this resource does not control is refused with
// ChildConflict and the object is left byte-for-byte as it was; an object that opts
// in with the adopt annotation is adopted; of two parents returning the same child,
// the first keeps it; a cluster-scoped child of a namespaced parent is refused.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installTestCrd, kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };

describe("no adoption of foreign objects", () => {
  let client: KubeClient;
  let ns: string;
  let op: Operator;
  let site: { apiVersion: string; kind: string };
  const ready = async (name: string) => (await client.get<Obj>(site.apiVersion, site.kind, name, ns))?.status?.conditions?.find((c) => c.type === "Ready");

  before(async () => {
    const info = await testCluster();
    site = await installTestCrd(info, "Site");
    ns = await testNamespace(info, "adoption");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: new LogBus({ stdout: false }) });
    await client.create({
      apiVersion: "v1", kind: "ConfigMap",
      metadata: { name: "site", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } },
      data: {
        "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
interface Site extends Resource { spec: { child?: string; clusterScoped?: boolean } }
export default {
  for: { apiVersion: "${site.apiVersion}", kind: "${site.kind}" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }, { apiVersion: "v1", kind: "Service" }, { apiVersion: "v1", kind: "Namespace" }],
  reconcile(res: Site) {
    const name = res.spec.child ?? res.metadata.name;
    if (res.spec.clusterScoped) return { children: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "stolen-" + name } }] };
    return {
      children: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: name + "-config" }, data: { owner: res.metadata.name } },
        { apiVersion: "v1", kind: "Service", metadata: { name }, spec: { selector: { app: res.metadata.name }, ports: [{ port: 80 }] } },
      ],
    };
  },
} satisfies Reconciler<Site>;
`,
      },
    });
    await eventually(() => op.sources.state(`${ns}/site`)?.active !== undefined, 15_000, "reconciler active");
  });
  after(async () => {
    await op?.stop(2_000);
    client?.close();
  });

  it("refuses a child whose name a foreign ConfigMap and Service hold, leaves them unchanged, and adopts them only on opt-in", async () => {
    const cm = await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "shop-config", namespace: ns }, data: { owner: "another team" } });
    const svc = await client.create({ apiVersion: "v1", kind: "Service", metadata: { name: "shop", namespace: ns }, spec: { selector: { app: "payments" }, ports: [{ port: 80 }] } });
    const shop: KubeObject = await client.create({ ...site, metadata: { name: "shop", namespace: ns }, spec: {} });
    await eventually(async () => (await ready("shop"))?.reason === "ChildConflict", 15_000, "ChildConflict");
    assert.match((await ready("shop"))!.message, /already exists and is not controlled by Site shop; .*chakrator\.dev\/adopt=Site\/shop/);
    // Byte for byte: neither object was written (same resourceVersion, same content, no owner).
    assert.deepEqual(await client.get("v1", "ConfigMap", "shop-config", ns), cm);
    assert.deepEqual(await client.get("v1", "Service", "shop", ns), svc);
    // Opt in, both of them: now they are adopted.
    for (const kind of ["ConfigMap", "Service"]) {
      const name = kind === "ConfigMap" ? "shop-config" : "shop";
      await client.patch("v1", kind, name, ns, { metadata: { annotations: { "chakrator.dev/adopt": "Site/shop" } } });
    }
    await client.patch(site.apiVersion, site.kind, "shop", ns, { metadata: { labels: { retry: "1" } } });
    await eventually(async () => (await ready("shop"))?.reason === "Reconciled", 15_000, "adopted").catch(async (e: unknown) => { throw new Error(`${String(e)}: ${JSON.stringify(await ready("shop"))}`); });
    const adopted = await client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "shop-config", ns);
    assert.equal(adopted?.metadata.ownerReferences?.find((r) => r.controller)?.uid, shop.metadata.uid);
    assert.equal(adopted?.data?.owner, "shop");
  });

  it("of two parents that return the same child, the first keeps it", async () => {
    const first: KubeObject = await client.create({ ...site, metadata: { name: "first", namespace: ns }, spec: { child: "shared" } });
    await eventually(async () => (await ready("first"))?.reason === "Reconciled", 15_000, "first reconciled");
    await client.create({ ...site, metadata: { name: "second", namespace: ns }, spec: { child: "shared" } });
    await eventually(async () => (await ready("second"))?.reason === "ChildConflict", 15_000, "second refused");
    assert.match((await ready("second"))!.message, /is controlled by Site first/);
    const shared = await client.get("v1", "ConfigMap", "shared-config", ns);
    assert.equal(shared?.metadata.ownerReferences?.find((r) => r.controller)?.uid, first.metadata.uid);
  });

  it("refuses a cluster-scoped child of a namespaced parent", async () => {
    await client.create({ ...site, metadata: { name: "grabby", namespace: ns }, spec: { clusterScoped: true } });
    await eventually(async () => (await ready("grabby"))?.reason === "InvalidChild", 15_000, "InvalidChild");
    assert.match((await ready("grabby"))!.message, /Namespace is cluster-scoped/);
    assert.equal(await client.get("v1", "Namespace", "stolen-grabby"), undefined);
  });
});
