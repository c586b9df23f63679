// The supervised informer on the real API server: events in order, and — with a fault
// injected into the watch (410 Gone, then a network failure) — a relist whose diff
// delivers every change made while the watch was down, deletions included.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeApiError, KubeClient, type KubeObject } from "./client.ts";
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
});
