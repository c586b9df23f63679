// Watches under disruption, on a private control plane (so restarting its API server
// cannot disturb other test files): every watch breaks, changes made while the
// operator's watches were down are not lost, and everything converges.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ControlPlane, eventually, installCrds, kubeConfig, sampleSource } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;
type Mr = KubeObject & { spec: { message: string }; status?: { message?: string } };
const ns = "default";

describe("API server restart", () => {
  let cp: ControlPlane;
  let client: KubeClient;
  let op: Operator;
  const bus = new LogBus({ stdout: false });

  before(async () => {
    cp = await ControlPlane.start();
    await installCrds(cp.info);
    client = KubeClient.fromKubeConfig(kubeConfig(cp.info));
    await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
    op = await Operator.start({ kubeConfig: kubeConfig(cp.info), namespace: ns, log: bus });
    await eventually(() => op.sources.state(`${ns}/message`)?.active, 15_000, "revision 1");
  });
  after(async () => {
    await op?.stop(2_000);
    client?.close();
    await cp?.stop();
  });

  it("loses nothing across a restart of kube-apiserver", async () => {
    for (let i = 0; i < 20; i++) await client.create({ ...mr, metadata: { name: `d-${i}`, namespace: ns }, spec: { message: `v1-${i}` } });
    const converged = (prefix: string) => async () => {
      const list = await client.list<Mr>(mr.apiVersion, mr.kind, { namespace: ns });
      return list.items.length > 0 && list.items.every((r) => r.status?.message === `${prefix}-${r.metadata.name.slice(2)}`.toUpperCase());
    };
    await eventually(converged("v1"), 20_000, "first convergence");

    await cp.restartApiserver();
    // Right away, before the operator's watches come back (they back off), change
    // every spec, delete a child by hand and delete one resource.
    for (let i = 0; i < 20; i++) await client.patch(mr.apiVersion, mr.kind, `d-${i}`, ns, { spec: { message: `v2-${i}` } });
    await client.delete("v1", "ConfigMap", "d-3-message", ns);
    await client.delete(mr.apiVersion, mr.kind, "d-19", ns);

    await eventually(converged("v2"), 60_000, "convergence after the restart");
    const child = await eventually(() => client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "d-3-message", ns), 30_000, "child recreated");
    assert.equal(child.data?.message, "v2-3");
    await eventually(async () => (await client.get(mr.apiVersion, mr.kind, "d-19", ns)) === undefined, 30_000, "finalized and gone");
    assert.ok(bus.recent({ text: "watch of" }).length > 0, "the broken watches were reported");
  });
});
