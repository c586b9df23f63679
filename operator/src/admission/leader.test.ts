// Only the leader writes webhook configurations; every replica serves. A replica that
// follows (the Lease is held by someone else) loads the admission copy and answers
// reviews, but creates no configuration until it becomes the leader.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installTestCrd, kubeConfig, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { runOperator, type RunningOperator } from "../lifecycle.ts";
import { LogBus } from "../telemetry/log.ts";
import { configurationName } from "./index.ts";

describe("admission on a follower", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let ns: string;
  let run: RunningOperator;
  let key: string;
  const kind = { apiVersion: "test.chakrator.dev/v1", kind: "Followed" };
  const configuration = () => client.get("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", configurationName(key));

  before(async () => {
    info = await testCluster();
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await installTestCrd(info, kind.kind);
    ns = await testNamespace(info, "admission-follower");
    key = `${ns}/followed`;
    const now = new Date().toISOString().replace("Z", "000Z");
    await client.create({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "chakrator-leader", namespace: ns }, spec: { holderIdentity: "someone-else", leaseDurationSeconds: 3600, acquireTime: now, renewTime: now } });
    await client.create({
      apiVersion: "v1", kind: "ConfigMap", metadata: { name: "followed", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } },
      data: { "reconciler.ts": `export default {
  for: { apiVersion: "${kind.apiVersion}", kind: "${kind.kind}" },
  reconcile() { return {}; },
  validate() { return { allowed: false as const, message: "followers answer too" }; },
};
` },
    });
    run = await runOperator({
      kubeConfig: kubeConfig(info), log: new LogBus({ stdout: false }), namespace: ns, listen: { host: "127.0.0.1", port: 0 }, auth: "off",
      handleSignals: false, workers: 1, sandbox: { poolSize: 1 }, leaderElection: true,
      lease: { namespace: ns, leaseMs: 3000, renewDeadlineMs: 2000, retryMs: 200 },
      admission: { listen: { host: "127.0.0.1", port: 0 }, namespace: ns, instance: ns, refreshMs: 200 },
    });
  });

  after(async () => {
    await run?.shutdown();
    await client.delete("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", configurationName(key)).catch(() => {});
    client?.close();
  });

  it("serves its reconciler's validate but writes no configuration while it follows", async () => {
    await eventually(() => run.admission?.target(key), 30_000, "the admission target on the follower");
    assert.equal(run.isLeader(), false);
    const review = await run.admission!.handle("validate", key, { uid: "u1", operation: "CREATE", object: { ...kind, metadata: { name: "x", namespace: ns } } });
    assert.deepEqual(review, { uid: "u1", allowed: false, status: { code: 403, reason: "Forbidden", message: "followers answer too" } });
    // Several refresh periods pass; a follower still writes nothing.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await run.admission!.settled();
    assert.equal(await configuration(), undefined);
    // The certificate Secret exists (any replica may create it), so every replica serves one certificate.
    assert.ok(await client.get("v1", "Secret", "chakrator-webhook-tls", ns));
  });

  it("writes the configuration once it becomes the leader", async () => {
    const lease = (await client.get("coordination.k8s.io/v1", "Lease", "chakrator-leader", ns))! as KubeObject & { spec: Record<string, unknown> };
    await client.replace({ ...lease, spec: { ...lease.spec, holderIdentity: "" } });
    await eventually(() => run.isLeader(), 15_000, "leadership");
    const config = await eventually(() => configuration(), 15_000, "the configuration written by the new leader");
    assert.equal(config.metadata.annotations?.["chakrator.dev/reconciler"], key);
  });
});
