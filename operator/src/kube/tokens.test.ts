// Relay tokens on the real API server: a follower's token is bound to the relay
// audience, so the API server refuses it for its own API; the leader admits it only
// when TokenReview (with that audience) says it is the leader's own ServiceAccount.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, kubeConfig, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeApiError, KubeClient, type KubeObject } from "./client.ts";
import { isRelayToken, RELAY_AUDIENCE, RelayTokenSource, relayPeer, serviceAccountOf, whoAmI } from "./tokens.ts";

describe("relay tokens", () => {
  let info: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  let saToken: string;
  let sa: KubeClient;
  const clients: KubeClient[] = [];

  const requestToken = async (name: string, audiences?: string[]) => (await admin.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600, ...(audiences ? { audiences } : {}) } },
  })).status.token;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  before(async () => {
    info = await testCluster();
    admin = KubeClient.fromKubeConfig(kubeConfig(info));
    ns = await testNamespace(info, "tokens");
    for (const name of ["relay-op", "other"]) await admin.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: ns } });
    // What the shipped RBAC grants the operator for this: a token for itself only, and TokenReview.
    await admin.create({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "relay", namespace: ns }, rules: [{ apiGroups: [""], resources: ["serviceaccounts/token"], resourceNames: ["relay-op"], verbs: ["create"] }] });
    await admin.create({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "relay", namespace: ns }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "relay" }, subjects: [{ kind: "ServiceAccount", name: "relay-op", namespace: ns }] });
    await admin.apply({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: `${ns}-review` }, rules: [{ apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] }] }, { fieldManager: "tests", force: true });
    await admin.apply({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: `${ns}-review` }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${ns}-review` }, subjects: [{ kind: "ServiceAccount", name: "relay-op", namespace: ns }] }, { fieldManager: "tests", force: true });
    saToken = await requestToken("relay-op");
    sa = KubeClient.fromKubeConfig(kubeConfig(info, saToken));
    clients.push(admin, sa);
  });
  after(async () => {
    await admin.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", `${ns}-review`).catch(() => {});
    await admin.delete("rbac.authorization.k8s.io/v1", "ClusterRole", `${ns}-review`).catch(() => {});
    for (const c of clients) c.close();
  });

  it("knows who the operator is", async () => {
    assert.equal(await whoAmI(sa), `system:serviceaccount:${ns}:relay-op`);
    assert.deepEqual(serviceAccountOf(`system:serviceaccount:${ns}:relay-op`), { namespace: ns, name: "relay-op" });
    assert.equal(serviceAccountOf("chakrator-test-admin"), undefined);
  });

  it("mints an audience-bound token that the API server refuses for itself, and renews it only when due", async () => {
    const source = new RelayTokenSource(sa);
    const token = (await source.token())!;
    assert.ok(token && token !== saToken);
    assert.ok(isRelayToken(token));
    assert.ok(!isRelayToken(saToken));
    assert.equal(await source.token(), token, "cached until 80% of its life");
    const asRelay = await admin.withToken(token);
    clients.push(asRelay);
    await assert.rejects(asRelay.request("GET", "/api/v1/namespaces"), (err: unknown) => err instanceof KubeApiError && err.status === 401);
    // The control: the same request with the ServiceAccount's own token is authenticated (403, not 401).
    await assert.rejects(sa.request("GET", "/api/v1/namespaces"), (err: unknown) => err instanceof KubeApiError && err.status === 403);
    // The leader (the same ServiceAccount) admits it.
    assert.deepEqual(await relayPeer(bearer(token), sa), { username: `system:serviceaccount:${ns}:relay-op` });
  });

  it("admits nothing else: a plain token, another ServiceAccount's relay token, a forged one, no token", async () => {
    assert.equal(await relayPeer(bearer(saToken), sa), undefined, "not bound to the relay audience");
    assert.equal(await relayPeer(bearer(await requestToken("other", [RELAY_AUDIENCE])), sa), undefined, "not the leader's own ServiceAccount");
    const good = (await new RelayTokenSource(sa).token())!;
    const [h, p] = good.split(".");
    assert.equal(await relayPeer(bearer(`${h}.${p}.AAAA`), sa), undefined, "a bad signature");
    assert.equal(await relayPeer({}, sa), undefined);
    assert.equal(await relayPeer(bearer("not-a-jwt"), sa), undefined);
    // A leader that is not a ServiceAccount (a person's kubeconfig) admits no follower token.
    assert.equal(await relayPeer(bearer(good), admin), undefined);
  });

  it("has no token when the operator is not a ServiceAccount, and fails clearly without the RBAC for it", async () => {
    assert.equal(await new RelayTokenSource(admin).token(), undefined);
    const other = KubeClient.fromKubeConfig(kubeConfig(info, await requestToken("other")));
    clients.push(other);
    await assert.rejects(new RelayTokenSource(other).token(), (err: unknown) => err instanceof KubeApiError && err.status === 403 && /serviceaccounts\/token/.test(err.message));
  });

  it("binds the token to the pod when it has one: it stops working when the pod is deleted", async () => {
    const pod = await admin.create<KubeObject>({
      apiVersion: "v1", kind: "Pod",
      metadata: { name: "operator-0", namespace: ns },
      spec: { serviceAccountName: "relay-op", automountServiceAccountToken: false, containers: [{ name: "operator", image: "chakrator" }] },
    });
    const token = (await new RelayTokenSource(sa, { pod: { name: "operator-0", uid: pod.metadata.uid! } }).token())!;
    const review = async () => (await admin.request<{ status: { authenticated?: boolean; user?: { extra?: Record<string, string[]> } } }>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: [RELAY_AUDIENCE] } },
    })).status;
    const live = await review();
    assert.equal(live.authenticated, true);
    assert.deepEqual(live.user?.extra?.["authentication.kubernetes.io/pod-name"], ["operator-0"]);
    assert.deepEqual(await relayPeer(bearer(token), sa), { username: `system:serviceaccount:${ns}:relay-op` });
    await admin.request("DELETE", `/api/v1/namespaces/${ns}/pods/operator-0`, { query: { gracePeriodSeconds: 0 } });
    await eventually(async () => (await admin.get("v1", "Pod", "operator-0", ns)) === undefined, 10_000, "the pod gone");
    // The API server caches authentications for a few seconds and reads pods from its informer.
    await eventually(async () => (await review()).authenticated !== true, 30_000, "the deleted pod's token refused");
  });
});
