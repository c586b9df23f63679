// The address rule of the log relay, on the real API server: with a Service, only the
// pod addresses (and ports) in its controller-managed EndpointSlices; without one,
// only loopback addresses. Host names never pass.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient } from "./client.ts";
import { OperatorPeers } from "./peers.ts";

describe("OperatorPeers", () => {
  let client: KubeClient;
  let ns: string;

  before(async () => {
    const info = await testCluster();
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    ns = await testNamespace(info, "peers");
    // No controller manager here: the slices the EndpointSlice controller would derive from the pods.
    const slice = (name: string, service: string, addresses: string[], managed: boolean) => client.create({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name,
        namespace: ns,
        labels: { "kubernetes.io/service-name": service, ...(managed ? { "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" } : {}) },
      },
      addressType: addresses[0]!.includes(":") ? "IPv6" : "IPv4",
      endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: false } })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
    await slice("editor-a", "chakrator-editor", ["10.1.0.7", "10.1.0.8"], true);
    await slice("editor-b", "chakrator-editor", ["fd00::7"], true);
    // Someone's hand-made slice claiming the Service: not derived from its pods.
    await slice("forged", "chakrator-editor", ["10.9.9.9"], false);
    await slice("other", "someone-else", ["10.2.0.1"], true);
  });
  after(() => client?.close());

  it("accepts exactly the pod addresses and ports of the Service's controller-managed EndpointSlices", async () => {
    const peers = new OperatorPeers(client, { namespace: ns, name: "chakrator-editor" });
    assert.equal(await peers.refusal("http://10.1.0.7:8080"), undefined);
    assert.equal(await peers.refusal("http://10.1.0.8:8080/ignored/path"), undefined, "not-ready pods are still the operator's own");
    assert.equal(await peers.refusal("https://[fd00::7]:8080"), undefined);
    assert.match((await peers.refusal("http://10.1.0.7:9090"))!, /port 9090 is not one of its Service's ports \(8080\)/);
    assert.match((await peers.refusal("http://10.1.0.9:8080"))!, new RegExp(`10\\.1\\.0\\.9 is not the address of a pod of Service ${ns}/chakrator-editor`));
    assert.match((await peers.refusal("http://10.9.9.9:8080"))!, /is not the address of a pod/, "a slice the controller does not manage counts for nothing");
    assert.match((await peers.refusal("http://10.2.0.1:8080"))!, /is not the address of a pod/, "another Service's pods are not ours");
    assert.match((await peers.refusal("http://127.0.0.1:8080"))!, /is not the address of a pod/, "with a Service, loopback is not special");
    assert.match((await peers.refusal("http://chakrator-editor.example:8080"))!, /is a host name/);
    assert.match((await peers.refusal("http://user:pw@10.1.0.7:8080"))!, /user info/);
    assert.match((await peers.refusal("file:///etc/passwd"))!, /not http or https/);
    assert.match((await peers.refusal("::"))!, /not a URL/);
  });

  it("without a Service accepts only loopback addresses", async () => {
    const peers = new OperatorPeers(client);
    assert.equal(await peers.refusal("http://127.0.0.1:8080"), undefined);
    assert.equal(await peers.refusal("http://127.3.2.1:1"), undefined);
    assert.equal(await peers.refusal("http://[::1]:8080"), undefined);
    assert.match((await peers.refusal("http://10.1.0.7:8080"))!, /not a loopback address/);
    assert.match((await peers.refusal("http://[fd00::7]:8080"))!, /not a loopback address/);
    assert.match((await peers.refusal("http://localhost:8080"))!, /is a host name/);
    assert.match(peers.describe(), /loopback addresses only/);
  });
});
