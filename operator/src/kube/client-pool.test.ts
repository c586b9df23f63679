// Watches hold their connections for minutes; they must not take the request pool's
// sockets, or an operator with many reconcilers (two watches each) stalls every other
// request. With a pool of 2 sockets and 4 watches open, a GET still answers.
import assert from "node:assert/strict";
import { it } from "node:test";
import { kubeConfig, testCluster } from "../../testenv/index.ts";
import { KubeClient } from "./client.ts";

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
