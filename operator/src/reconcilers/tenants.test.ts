// Tenants (issue 11): reconciler ConfigMaps may live in any namespace, and the
// operator's namespace allow-list decides which count. A ConfigMap outside the list is
// never compiled, loaded or recorded.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, kubeConfig, sampleSource, testCluster, testNamespace, installCrds } from "../../testenv/index.ts";
import { KubeClient } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

describe("namespace allow-list", () => {
  let client: KubeClient;
  let op: Operator;
  let teamA: string;
  let teamB: string;
  let outside: string;

  before(async () => {
    const info = await testCluster();
    await installCrds(info);
    teamA = await testNamespace(info, "team-a");
    teamB = await testNamespace(info, "team-b");
    outside = await testNamespace(info, "outside");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespaces: [teamA, teamB], log: new LogBus({ stdout: false }) });
  });
  after(async () => {
    await op?.stop(2_000);
    client?.close();
  });

  it("takes reconcilers from every allowed namespace and none from others", async () => {
    for (const ns of [teamA, teamB, outside]) {
      await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "msg", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
    }
    await eventually(() => op.sources.state(`${teamA}/msg`)?.active && op.sources.state(`${teamB}/msg`)?.active, 20_000, "both teams' reconcilers active");
    // Give the outside one every chance to be (wrongly) picked up: the informer saw all three at once.
    await op.sources.idle();
    assert.equal(op.sources.state(`${outside}/msg`), undefined);
    assert.equal((await client.list("v1", "ConfigMap", { namespace: outside })).items.filter((c) => c.metadata.name.startsWith("msg-rev-")).length, 0, "no revision recorded outside the list");
    assert.equal((await client.list("v1", "ConfigMap", { namespace: teamA })).items.filter((c) => c.metadata.name.startsWith("msg-rev-")).length, 1);
  });
});
