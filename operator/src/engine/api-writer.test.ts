// A child's first write on the real API server, when the names cache says its name is
// free (api-writer.ts): no read before the write, and a cache that is wrong (an object
// appeared that it has not seen yet) never leads to taking that object over: the
// apply without force fails on the foreign object's fields (409) or on its controller
// reference (422), the object is read, judged as any existing one, and left as it was.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import type { EventRecorder } from "../kube/events.ts";
import { apiWriter } from "./api-writer.ts";
import { adoptAnnotation, ChildConflictError, ownerLabel, prepareChildren } from "./children.ts";

const owns = [{ apiVersion: "v1", kind: "ConfigMap" }];

describe("a child's first write", () => {
  let client: KubeClient;
  /** Reads of the tests' own, not counted. */
  let plain: KubeClient;
  let ns: string;
  let parent: KubeObject;
  let reads: string[];
  /** What the names cache answers for every name. */
  let taken: boolean | undefined;

  before(async () => {
    const info = await testCluster();
    ns = await testNamespace(info, "first-write");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    plain = KubeClient.fromKubeConfig(kubeConfig(info));
    // The parent can be any object; a ConfigMap will do (no garbage collector runs here).
    parent = await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "parent", namespace: ns } });
    const get = client.get.bind(client);
    client.get = (async (apiVersion: string, kind: string, name: string, namespace?: string) => {
      reads.push(name);
      return get(apiVersion, kind, name, namespace);
    }) as KubeClient["get"];
  });
  after(() => {
    client?.close();
    plain?.close();
  });

  const writer = () => apiWriter({
    client,
    events: {} as EventRecorder,
    write: (_target, write) => write(),
    cachedChild: () => undefined,
    childrenOf: () => [],
    nameTaken: () => taken,
  });
  const child = (name: string, message: string) => prepareChildren(parent, [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { message } }], owns);
  const live = (name: string) => plain.get("v1", "ConfigMap", name, ns);
  const foreign = (name: string, extra: Partial<KubeObject["metadata"]> = {}, data: Record<string, string> = { message: "theirs" }) =>
    client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, ...extra }, data });

  it("creates a child whose name is free without reading it first", async () => {
    reads = [];
    taken = false;
    assert.equal(await writer().applyChildren(parent, child("free", "ours")), 1);
    assert.deepEqual(reads, [], "no GET before the write");
    const made = (await live("free"))!;
    assert.equal((made.data as Record<string, string>).message, "ours");
    assert.equal(made.metadata.labels?.[ownerLabel], parent.metadata.uid);
    assert.equal(made.metadata.ownerReferences?.[0]?.uid, parent.metadata.uid);
  });

  it("reads first when the names cache knows the name, or cannot say", async () => {
    for (const answer of [true, undefined]) {
      reads = [];
      taken = answer;
      await writer().applyChildren(parent, child(`known-${String(answer)}`, "ours"));
      assert.deepEqual(reads, [`known-${String(answer)}`], `one GET when the cache says ${String(answer)}`);
    }
  });

  it("a foreign object the cache has not seen, with other values: refused, left as it was", async () => {
    const before = await foreign("stale-conflict");
    reads = [];
    taken = false;
    await assert.rejects(writer().applyChildren(parent, child("stale-conflict", "ours")), (err: unknown) =>
      err instanceof ChildConflictError && /already exists and is not controlled by ConfigMap parent/.test(err.message));
    assert.deepEqual(reads, ["stale-conflict"], "read once the apply failed");
    const after = (await live("stale-conflict"))!;
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, "not written");
  });

  it("a foreign object controlled by another owner, with no field in common: refused (422), left as it was", async () => {
    const other = { apiVersion: "v1", kind: "ConfigMap", name: "other", uid: "0b7b0d5e-0000-4000-8000-000000000001", controller: true };
    const before = await foreign("stale-controlled", { ownerReferences: [other] }, { unrelated: "x" });
    taken = false;
    await assert.rejects(writer().applyChildren(parent, child("stale-controlled", "ours")), (err: unknown) =>
      err instanceof ChildConflictError && /controlled by ConfigMap other/.test(err.message));
    const after = (await live("stale-controlled"))!;
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, "not written");
  });

  it("an object the cache has not seen that opts in to adoption: adopted after the read", async () => {
    await foreign("stale-opt-in", { annotations: { [adoptAnnotation]: "ConfigMap/parent" } });
    taken = false;
    assert.equal(await writer().applyChildren(parent, child("stale-opt-in", "ours")), 1);
    const after = (await live("stale-opt-in"))!;
    assert.equal((after.data as Record<string, string>).message, "ours", "the forced apply took the field");
    assert.equal(after.metadata.ownerReferences?.find((r) => r.controller)?.uid, parent.metadata.uid);
  });
});
