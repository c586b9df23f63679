// Watches hold their connections for minutes; they must not take the request pool's
// sockets, or an operator with many reconcilers (two watches each) stalls every other
// request. With a pool of 2 sockets and 4 watches open, a GET still answers.
// Sockets are pooled by a short name for the TLS material (pool-agent.ts).
import assert from "node:assert/strict";
import { it } from "node:test";
import { kubeConfig, testCluster } from "../../testenv/index.ts";
import { KubeClient } from "./client.ts";
import { poolName } from "./pool-agent.ts";

it("keeps watches out of the request pool: 4 open watches, a pool of 2, and a GET still answers", async () => {
  const info = await testCluster();
  const client = KubeClient.fromKubeConfig(kubeConfig(info), { maxSockets: 2 });
  const stop = new AbortController();
  try {
    const watches = Array.from({ length: 4 }, () =>
      client.stream("/api/v1/namespaces/default/configmaps", { watch: true, timeoutSeconds: 60 }, () => {}, { signal: stop.signal, idleTimeoutMs: 60_000 }).catch(() => {}));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const got = await Promise.race([
      client.get("v1", "Namespace", "default"),
      new Promise<"stalled">((resolve) => setTimeout(() => resolve("stalled"), 10_000)),
    ]);
    assert.notEqual(got, "stalled", "a GET waited for a socket the watches held");
    assert.equal((got as { metadata: { name: string } }).metadata.name, "default");
    stop.abort();
    await Promise.all(watches);
  } finally {
    stop.abort();
    client.close();
  }
});

it("pools sockets by all of the TLS material: one pool name per CA, certificate and key, whatever the headers", () => {
  const server = new URL("https://127.0.0.1:6443");
  const a = { ca: "CA-1", cert: "CERT-1", key: "KEY-1", headers: { authorization: "Bearer one" } };
  assert.equal(poolName(server, a), poolName(server, { ...a, headers: { authorization: "Bearer two" } }), "headers do not split pools");
  const names = new Set([a, { ...a, ca: "CA-2" }, { ...a, cert: "CERT-2" }, { ...a, key: "KEY-2" }, { ...a, rejectUnauthorized: false }].map((o) => poolName(server, o)));
  assert.equal(names.size, 5, "each difference in TLS material is its own pool");
  assert.notEqual(poolName(new URL("https://127.0.0.1:6444"), a), poolName(server, a), "and each server");
});
