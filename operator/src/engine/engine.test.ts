// The engine end to end on the real control plane: the seed sample's life cycle
// (create, change, child deleted by hand, prune, finalize) and a reconciler that throws.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;

interface Status {
  message?: string;
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
}
type MyResource = KubeObject & { spec: { message: string; replicas?: number }; status?: Status };

const ready = (r: MyResource | undefined) => r?.status?.conditions?.find((c) => c.type === "Ready");

describe("engine", () => {
  let client: KubeClient;
  let ns: string;
  let op: Operator;
  const bus = new LogBus({ stdout: false });

  const getMr = (name: string) => client.get<MyResource>(mr.apiVersion, mr.kind, name, ns);
  const getCm = (name: string) => client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", name, ns);
  const putSource = async (data: Record<string, string>) => {
    const existing = await getCm("reconciler");
    const body = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "reconciler", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data };
    if (existing) await client.replace({ ...existing, data });
    else await client.create(body);
  };
  const waitRevision = (n: number) => eventually(() => (op.sources.state(`${ns}/reconciler`)?.active?.number ?? 0) >= n, 15_000, `revision ${n}`);

  before(async () => {
    const info = await testCluster();
    await installCrds(info);
    ns = await testNamespace(info, "engine");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus, sandbox: { timeoutMs: 2_000, poolSize: 2 } });
    await putSource(sampleSource("01-message"));
    await waitRevision(1);
  });
  after(async () => {
    if (process.env.DEBUG_ENGINE) for (const r of bus.recent({ level: "warn" })) console.error(r.level, r.resource, r.message);
    await op?.stop(2_000);
    client?.close();
  });

  it("creates the child and the status of the seed sample", async () => {
    const created = await client.create<MyResource>({ ...mr, metadata: { name: "hello", namespace: ns }, spec: { message: "hello there" } });
    const child = await eventually(() => getCm("hello-message"), 15_000, "child ConfigMap");
    assert.equal(child.data?.message, "hello there");
    const ref = child.metadata.ownerReferences?.[0];
    assert.deepEqual({ kind: ref?.kind, name: ref?.name, uid: ref?.uid, controller: ref?.controller }, { kind: "MyResource", name: "hello", uid: created.metadata.uid, controller: true });
    assert.equal(child.metadata.labels?.["chakrator.dev/owner-uid"], created.metadata.uid);
    const res = await eventually(async () => { const r = await getMr("hello"); return ready(r)?.status === "True" ? r : undefined; }, 15_000, "Ready=True");
    assert.equal(res.status?.message, "HELLO THERE", JSON.stringify(res.status));
    assert.equal(res.status?.observedGeneration, 1);
    assert.ok(res.metadata.finalizers?.includes("chakrator.dev/finalizer"), "the finalizer was added because the sample has finalize");
    assert.ok(bus.recent({ text: "reconciling" }).some((r) => r.source === "user" && r.resource === `MyResource ${ns}/hello`), "ctx.log reached the log bus");
  });

  it("follows a spec change: child updated, observedGeneration follows", async () => {
    const res = (await getMr("hello"))!;
    await client.patch(mr.apiVersion, mr.kind, "hello", ns, { spec: { message: "changed" } });
    await eventually(async () => (await getCm("hello-message"))?.data?.message === "changed", 15_000, "child updated");
    const after = await eventually(async () => { const r = await getMr("hello"); return r?.status?.observedGeneration === (res.metadata.generation ?? 0) + 1 ? r : undefined; }, 15_000, "observedGeneration");
    assert.equal(after.status?.message, "CHANGED");
  });

  it("recreates a child deleted by hand", async () => {
    const before = (await getCm("hello-message"))!;
    await client.delete("v1", "ConfigMap", "hello-message", ns);
    const again = await eventually(async () => { const c = await getCm("hello-message"); return c && c.metadata.uid !== before.metadata.uid ? c : undefined; }, 15_000, "child recreated");
    assert.equal(again.data?.message, "changed");
  });

  it("hot-reloads a new revision and prunes children no longer desired", async () => {
    await putSource({
      "reconciler.ts": `
import type { Reconciler, Resource } from "chakrator";
import { childName } from "./names.ts";
interface R extends Resource { spec: { message: string; replicas?: number } }
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: R) {
    const n = res.spec.replicas ?? 1;
    return {
      children: Array.from({ length: n }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: childName(res.metadata.name, i) }, data: { i: String(i) } })),
      status: { replicas: n },
    };
  },
  finalize() { return { done: true }; },
} satisfies Reconciler<R>;
`,
      "names.ts": `export function childName(base: string, i: number): string { return base + "-part-" + i; }\n`,
    });
    await waitRevision(2);
    await client.patch(mr.apiVersion, mr.kind, "hello", ns, { spec: { replicas: 3 } });
    await eventually(async () => (await getCm("hello-part-2")) !== undefined, 15_000, "three children");
    // The seed's child is no longer desired by revision 2: pruned.
    await eventually(async () => (await getCm("hello-message")) === undefined, 15_000, "old child pruned");
    await client.patch(mr.apiVersion, mr.kind, "hello", ns, { spec: { replicas: 1 } });
    await eventually(async () => (await getCm("hello-part-1")) === undefined && (await getCm("hello-part-2")) === undefined, 15_000, "scaled down");
    assert.ok(await getCm("hello-part-0"));
    const revisions = await client.list("v1", "ConfigMap", { namespace: ns, labelSelector: "chakrator.dev/revision-of=reconciler" });
    assert.deepEqual(revisions.items.map((r) => r.metadata.labels?.["chakrator.dev/revision"]).sort(), ["1", "2"]);
  });

  it("finalizes on deletion: finalize runs, the finalizer is removed, the resource goes", async () => {
    const res = (await getMr("hello"))!;
    await client.delete(mr.apiVersion, mr.kind, "hello", ns);
    await eventually(async () => (await getMr("hello")) === undefined, 15_000, "resource deleted");
    // No garbage collector runs in the test control plane: check the references it would follow.
    const child = (await getCm("hello-part-0"))!;
    assert.equal(child.metadata.ownerReferences?.[0]?.uid, res.metadata.uid);
    assert.equal(child.metadata.ownerReferences?.[0]?.blockOwnerDeletion, true);
  });

  it("turns a throwing reconciler into Ready=False, an Event and spaced retries, without blocking other objects", async () => {
    await putSource({
      "reconciler.ts": `
import type { Reconciler, Resource } from "chakrator";
interface R extends Resource { spec: { message: string } }
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: R, ctx) {
    if (res.spec.message === "boom") throw new Error("boom is not a message");
    // @ts-expect-error a Secret is not in owns: the type-check refuses it, and so does the engine at run time
    if (res.spec.message === "secret") return { children: [{ apiVersion: "v1", kind: "Secret", metadata: { name: "leak" }, stringData: { a: "b" } }] };
    return { status: { ok: true } };
  },
} satisfies Reconciler<R>;
`,
    });
    await waitRevision(3);
    await client.create({ ...mr, metadata: { name: "bad", namespace: ns }, spec: { message: "boom" } });
    await client.create({ ...mr, metadata: { name: "good", namespace: ns }, spec: { message: "fine" } });
    const bad = await eventually(async () => { const r = await getMr("bad"); return ready(r)?.status === "False" ? r : undefined; }, 15_000, "Ready=False");
    assert.equal(ready(bad)?.reason, "ReconcileError");
    assert.match(ready(bad)?.message ?? "", /boom is not a message/);
    const good = await eventually(async () => { const r = await getMr("good"); return ready(r)?.status === "True" ? r : undefined; }, 15_000, "other object Ready");
    assert.deepEqual((good.status as Record<string, unknown>).ok, true);
    // A failure keeps the last status the reconciler wrote; only Ready changes.
    await client.patch(mr.apiVersion, mr.kind, "good", ns, { spec: { message: "boom" } });
    const failed = await eventually(async () => { const r = await getMr("good"); return ready(r)?.status === "False" ? r : undefined; }, 15_000, "good fails");
    assert.equal((failed.status as Record<string, unknown>).ok, true, "user status fields survive an error");
    const events = await eventually(async () => {
      const list = await client.list("v1", "Event", { namespace: ns });
      return list.items.find((e) => (e.involvedObject as { name?: string }).name === "bad" && e.reason === "ReconcileError");
    }, 15_000, "Warning Event");
    assert.equal(events.type, "Warning");
    // Retries back off: gaps between failures grow (5 ms, 10 ms, 20 ms, ...). The first
    // gap also holds the first Ready=False write (an API round trip, ~90 ms on a loaded
    // machine), so look as far as the 7th attempt, whose backoff (160 ms) is past it.
    const failures = await eventually(() => {
      const f = bus.recent({ resource: `MyResource ${ns}/bad`, text: "reconcile failed" });
      return f.length >= 7 ? f : undefined;
    }, 15_000, "seven attempts");
    const times = failures.map((f) => Date.parse(f.time));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps.at(-1)! >= gaps[0]!, `later retries are not closer together: ${gaps.join(", ")} ms`);
    assert.ok(gaps.at(-1)! >= 80, `the 6th retry waited at least 80 ms (5 ms * 2^4): ${gaps.join(", ")} ms`);
  });

  it("refuses a child of a kind not in owns: an error on the resource, nothing written", async () => {
    await client.create({ ...mr, metadata: { name: "sneaky", namespace: ns }, spec: { message: "secret" } });
    const res = await eventually(async () => { const r = await getMr("sneaky"); return ready(r)?.status === "False" ? r : undefined; }, 15_000, "Ready=False");
    assert.equal(ready(res)?.reason, "InvalidChild");
    assert.match(ready(res)?.message ?? "", /kind v1\/Secret is not in owns/);
    assert.equal(await client.get("v1", "Secret", "leak", ns), undefined);
  });
});
