// The supervised informer on the real API server: events in order, and — with a fault
// injected into the watch (410 Gone, then a network failure) — a relist whose diff
// delivers every change made while the watch was down, deletions included.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeApiError, KubeClient, METADATA_ONLY, type KubeObject } from "./client.ts";
import { Informer, type InformerEvent } from "./informer.ts";

describe("Informer", () => {
  let client: KubeClient;
  let ns: string;
  const cm = (name: string, v: string): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns }, data: { v } } as KubeObject);

  before(async () => {
    const info = await testCluster();
    ns = await testNamespace(info, "informer");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
  });
  after(() => client?.close());

  it("lists, then delivers add, update and delete in order, with a cache that follows", async () => {
    await client.create(cm("pre", "1"));
    const seen: string[] = [];
    const inf = new Informer(client, { apiVersion: "v1", kind: "ConfigMap", namespace: ns, onEvent: (t, o) => seen.push(`${t} ${o.metadata.name}`) });
    inf.start();
    await inf.synced;
    assert.ok(seen.includes("add pre"));
    const created = await client.create(cm("live", "1"));
    await client.replace({ ...created, data: { v: "2" } });
    await client.delete("v1", "ConfigMap", "live", ns);
    await eventually(() => seen.includes("delete live"), 10_000, "delete event");
    assert.deepEqual(seen.filter((s) => s.endsWith(" live")), ["add live", "update live", "delete live"]);
    assert.equal(inf.get(ns, "live"), undefined);
    assert.equal((inf.get(ns, "pre") as { data?: { v?: string } }).data?.v, "1");
    inf.stop();
  });

  it("relists after 410 Gone and after a broken watch, losing no change made meanwhile", async () => {
    await client.create(cm("stays", "1"));
    await client.create(cm("goes", "1"));
    await client.create(cm("changes", "1"));
    // Fault injection: the first watch fails with 410 after the test changed things, the
    // second with a network error; later watches are real.
    let watches = 0;
    let release!: () => void;
    const changed = new Promise<void>((r) => { release = r; });
    const faulty = new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === "stream") {
          return async (...args: Parameters<KubeClient["stream"]>) => {
            watches++;
            if (watches === 1) {
              await changed;
              throw new KubeApiError(410, "Expired", "too old resource version");
            }
            if (watches === 2) throw new KubeApiError(0, "NetworkError", "connection reset");
            return target.stream(...args);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const events: Array<[InformerEvent, string]> = [];
    const restarts: string[] = [];
    const inf = new Informer(faulty, {
      apiVersion: "v1", kind: "ConfigMap", namespace: ns, maxBackoffMs: 200,
      onEvent: (t, o) => events.push([t, o.metadata.name]),
      onRestart: (why) => restarts.push(why),
      onError: () => {},
    });
    inf.start();
    try {
      await inf.synced;
      events.length = 0;
      // While the (faulty) watch is "down": delete one, change one, add one.
      await client.delete("v1", "ConfigMap", "goes", ns);
      const c = (await client.get("v1", "ConfigMap", "changes", ns))!;
      await client.replace({ ...c, data: { v: "2" } });
      await client.create(cm("new", "1"));
      release();
      await eventually(() => events.some(([t, n]) => t === "delete" && n === "goes") && events.some(([t, n]) => t === "add" && n === "new") && events.some(([t, n]) => t === "update" && n === "changes"), 10_000, "the relist diff");
      assert.ok(restarts.some((r) => /410/.test(r)), `a relist for 410: ${restarts.join(" | ")}`);
      await eventually(() => restarts.some((r) => /connection reset/.test(r)), 10_000, "a retry after the network error");
      assert.equal(inf.get(ns, "goes"), undefined);
      assert.equal((inf.get(ns, "changes") as { data?: { v?: string } }).data?.v, "2");
      // And the real watch that follows still delivers.
      await client.create(cm("after", "1"));
      await eventually(() => events.some(([t, n]) => t === "add" && n === "after"), 10_000, "live again");
      assert.ok(!events.some(([t, n]) => t === "delete" && n === "stays"), "an unchanged object is not reported gone");
    } finally {
      inf.stop();
    }
  });

  it("namesOnly: lists and watches metadata alone, keeps only names, and says while its watch is open", async () => {
    const big = "x".repeat(50_000);
    await client.create({ ...cm("names-pre", big), metadata: { name: "names-pre", namespace: ns, labels: { a: "b" }, annotations: { c: "d" } } });
    const inf = new Informer(client, { apiVersion: "v1", kind: "ConfigMap", namespace: ns, namesOnly: true });
    assert.equal(inf.watching, false);
    inf.start();
    await inf.synced;
    // Exactly what is kept: no data, labels, annotations or managedFields.
    const pre = inf.get(ns, "names-pre")!;
    assert.deepEqual(Object.keys(pre).sort(), ["apiVersion", "kind", "metadata"]);
    assert.equal(pre.apiVersion, "v1");
    assert.equal(pre.kind, "ConfigMap");
    assert.deepEqual(Object.keys(pre.metadata).sort(), ["name", "namespace", "resourceVersion"]);
    await eventually(() => inf.watching, 10_000, "the watch is open");
    await client.create(cm("names-live", big));
    await eventually(() => inf.get(ns, "names-live") !== undefined, 10_000, "a new name");
    assert.equal((inf.get(ns, "names-live") as { data?: unknown }).data, undefined);
    await client.delete("v1", "ConfigMap", "names-live", ns);
    await eventually(() => inf.get(ns, "names-live") === undefined, 10_000, "a deleted name");
    inf.stop();
    await eventually(() => !inf.watching, 10_000, "not watching once stopped");
  });

  it("metadata-only lists and watch events carry metadata and no data", async () => {
    await client.create(cm("meta-list", "secret-ish"));
    const list = await client.list("v1", "ConfigMap", { namespace: ns, metadataOnly: true });
    const item = list.items.find((o) => o.metadata.name === "meta-list")!;
    assert.equal(item.kind, "ConfigMap");
    assert.equal(item.data, undefined);
    assert.ok(item.metadata.uid, "metadata is there");
    assert.ok(list.metadata.resourceVersion, "the list's resourceVersion is there");
    // An empty one (the server sends "items": null) is an empty list, and a names cache of it syncs.
    assert.deepEqual((await client.list("v1", "Service", { namespace: ns, metadataOnly: true })).items, []);
    const none = new Informer(client, { apiVersion: "v1", kind: "Service", namespace: ns, namesOnly: true });
    none.start();
    await none.synced;
    assert.equal(none.size, 0);
    none.stop();
    // The watch's Accept header: events carry PartialObjectMetadata.
    const stop = new AbortController();
    const events: Array<{ type: string; object: KubeObject }> = [];
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const watching = client.stream(path, { watch: 1, resourceVersion: list.metadata.resourceVersion }, (e) => events.push(e as never), { signal: stop.signal, idleTimeoutMs: 30_000, accept: METADATA_ONLY.watch }).catch(() => {});
    await client.create(cm("meta-watch", "secret-ish"));
    await eventually(() => events.some((e) => e.object.metadata.name === "meta-watch"), 10_000, "the watch event");
    const ev = events.find((e) => e.object.metadata.name === "meta-watch")!;
    assert.equal(ev.object.kind, "PartialObjectMetadata");
    assert.equal(ev.object.data, undefined);
    stop.abort();
    await watching;
  });
});
