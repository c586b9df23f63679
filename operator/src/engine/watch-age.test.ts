// A watch older than a minute still delivers events. @kubernetes/client-node 2.0.0
// aborted every watch after 30 s; our informers must outlive any client timeout.
// This test waits 65 s on purpose (it runs beside the other test files).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

describe("long-lived watches", () => {
  let client: KubeClient;
  let ns: string;
  let op: Operator;
  const bus = new LogBus({ stdout: false });

  before(async () => {
    const info = await testCluster();
    await installCrds(info);
    ns = await testNamespace(info, "watch-age");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus });
    await eventually(() => op.sources.state(`${ns}/message`)?.active, 15_000, "revision 1");
  });
  after(async () => {
    await op?.stop(2_000);
    client?.close();
  });

  it("reconciles a resource created 65 s after the operator started, with no watch restart", async () => {
    await new Promise((r) => setTimeout(r, 65_000));
    await client.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "late", namespace: ns }, spec: { message: "late" } });
    const res = await eventually(async () => {
      const r = await client.get<KubeObject & { status?: { message?: string } }>("example.com/v1", "MyResource", "late", ns);
      return r?.status?.message === "LATE" ? r : undefined;
    }, 5_000, "late resource reconciled promptly");
    assert.equal(res.status?.message, "LATE");
    assert.deepEqual(bus.recent({ text: "watch of" }).map((r) => r.message), [], "no watch had to be restarted");
  });
});
