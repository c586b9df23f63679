// Issue 10 end to end, on the real API server: beside each class of hostile
// reconciler, a well-behaved one whose resource is edited again and again keeps its
// sandbox host (same pid from start to end) and converges on every edit; the hostile
// reconciler's resources show their own reason, never a neighbour's; a revision that
// keeps killing its host is quarantined, and a fixed revision lifts the quarantine.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installTestCrd, kubeConfig, putReconciler, reconcilerSource, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";
import { HOSTILE } from "./hostile-classes.fixture.ts";

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }>; [k: string]: unknown } };
type Kind = { apiVersion: string; kind: string };

const source = reconcilerSource;

describe("noisy neighbours", () => {
  let client: KubeClient;
  let ns: string;
  let op: Operator;
  let good: Kind;
  let bad: Kind;
  const bus = new LogBus({ stdout: false });

  const put = (name: string, data: Record<string, string>, annotations: Record<string, string> = {}) => putReconciler(client, ns, name, data, annotations);
  const active = (name: string) => op.sources.state(`${ns}/${name}`)?.active?.number ?? 0;
  const ready = async (kind: Kind, name: string) => (await client.get<Obj>(kind.apiVersion, kind.kind, name, ns))?.status?.conditions?.find((c) => c.type === "Ready");
  const seen = async (name: string) => (await client.get<Obj>(good.apiVersion, good.kind, name, ns))?.status?.seen;

  before(async () => {
    const info = await testCluster();
    good = await installTestCrd(info, "Calm");
    bad = await installTestCrd(info, "Noisy");
    ns = await testNamespace(info, "neighbours");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus, sandbox: { timeoutMs: 1_000, memoryMb: 32 } });
    await put("calm", source(good, "    return { status: { seen: (res.spec as { value?: string }).value ?? '' } };"));
    await eventually(() => active("calm") === 1, 15_000, "calm reconciler active");
    await client.create({ ...good, metadata: { name: "c1", namespace: ns }, spec: { value: "start" } });
    await eventually(async () => (await seen("c1")) === "start", 15_000, "calm reconciled");
  });
  after(async () => {
    await op?.stop(2_000);
    client?.close();
  });

  it("beside every hostile class, the calm reconciler's host never restarts and every edit converges", async () => {
    const calmHost = op.sandbox.hostPid(`${ns}/calm`);
    assert.ok(calmHost !== undefined);
    let revision = 0;
    for (const hostile of HOSTILE) {
      await put("noisy", source(bad, `    ${hostile.body}`));
      revision++;
      await eventually(() => active("noisy") === revision, 15_000, `noisy revision ${hostile.name}`);
      await client.create({ ...bad, metadata: { name: hostile.name, namespace: ns }, spec: {} });
      for (let edit = 0; edit < 4; edit++) {
        const value = `${hostile.name}-${edit}`;
        await client.patch(good.apiVersion, good.kind, "c1", ns, { spec: { value } });
        await eventually(async () => (await seen("c1")) === value, 15_000, `calm converged beside ${hostile.name}`);
      }
      await eventually(async () => (await ready(bad, hostile.name))?.reason === hostile.reason, 20_000, `${hostile.name} shows ${hostile.reason}`);
      const condition = await ready(bad, hostile.name);
      assert.equal(condition?.status, "False");
      assert.equal(condition?.reason, hostile.reason, `${hostile.name}: ${condition?.message}`);
      assert.equal((await ready(good, "c1"))?.reason, "Reconciled", "the calm resource never shows a neighbour's failure");
      await client.delete(bad.apiVersion, bad.kind, hostile.name, ns);
    }
    assert.equal(op.sandbox.hostPid(`${ns}/calm`), calmHost, "the calm reconciler's host never restarted");
  });

  it("a revision that keeps killing its host is quarantined, says so, and a fixed revision lifts it", async () => {
    const calmHost = op.sandbox.hostPid(`${ns}/calm`);
    const grow = "    const keep: number[][] = []; for (;;) keep.push(new Array(64 * 1024).fill(1));";
    const before = active("noisy");
    await put("noisy", source(bad, grow), { "chakrator.dev/memory-mb": "256", "chakrator.dev/host-memory-mb": "150", "chakrator.dev/timeout-ms": "20000" });
    await eventually(() => active("noisy") > before, 15_000, "crashing revision active");
    await client.create({ ...bad, metadata: { name: "q1", namespace: ns }, spec: {} });
    await eventually(async () => (await ready(bad, "q1"))?.reason === "Quarantined", 60_000, "quarantined");
    const condition = await ready(bad, "q1");
    assert.match(condition?.message ?? "", /quarantined until .*over its limit of 150 MiB/);
    const events = (await client.list<KubeObject & { reason?: string; involvedObject?: { name?: string; kind?: string } }>("v1", "Event", { namespace: ns })).items;
    assert.ok(events.some((e) => e.reason === "RevisionQuarantined" && e.involvedObject?.kind === "ConfigMap" && e.involvedObject.name === "noisy"), "a Warning Event on the reconciler ConfigMap");
    // The calm neighbour is untouched meanwhile.
    await client.patch(good.apiVersion, good.kind, "c1", ns, { spec: { value: "during-quarantine" } });
    await eventually(async () => (await seen("c1")) === "during-quarantine", 15_000, "calm converged during the quarantine");
    assert.equal(op.sandbox.hostPid(`${ns}/calm`), calmHost);
    // The fix: a new revision lifts the quarantine at once.
    await put("noisy", source(bad, "    return { status: { fixed: true } };"));
    await eventually(async () => (await ready(bad, "q1"))?.reason === "Reconciled", 20_000, "fixed revision reconciles");
  });
});
