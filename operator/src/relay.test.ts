// The log relay cannot be pointed elsewhere: real `node operator/src/main.ts` processes,
// running as a real ServiceAccount (its token in the kubeconfig, as in a pod), with
// auth "token", against a Lease that someone else wrote first.
//
// 1. The Lease points at a listener on a non-loopback address of this machine: the
//    follower (no operator Service: loopback only) never connects, and says why.
// 2. It points at a loopback listener: the follower connects, and what arrives in its
//    Authorization header is refused by the API server (an audience-bound token,
//    not the ServiceAccount's token).
// 3. The intruder stops renewing: the operator takes the Lease over and reconciles.
// 4. A second replica follows it and relays its reconcile logs: the leader admits the
//    audience-bound token (TokenReview with the relay audience).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { parseAllDocuments } from "yaml";
import { eventually, freePort, installCrds, kubeConfig, testCluster, testNamespace, type ControlPlaneInfo } from "../testenv/index.ts";
import { KubeApiError, KubeClient, type KubeObject } from "./kube/client.ts";
import { OperatorPeers } from "./kube/peers.ts";
import { RelayTokenSource } from "./kube/tokens.ts";

interface Proc { child: ChildProcess; url: string; lines: Array<Record<string, unknown>> }
type Lease = KubeObject & { spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string } };

const micro = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;

/** A listener that records every request's headers and answers 401 (HTTP and upgrades alike). */
async function capture(host: string): Promise<{ server: Server; port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => { seen.push(req.headers); res.writeHead(401).end(); });
  server.on("upgrade", (req, socket) => { seen.push(req.headers); socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"); });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

describe("the log relay with a Lease someone else wrote", () => {
  let info: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  let saToken: string;
  let kubeconfigFile: string;
  const tmp = mkdtempSync(join(tmpdir(), "chakrator-relay-"));
  const procs: Proc[] = [];
  const servers: Server[] = [];

  async function startProcess(extraEnv: Record<string, string> = {}): Promise<Proc> {
    const port = await freePort();
    const child = spawn(process.execPath, [join(import.meta.dirname, "main.ts")], {
      env: {
        ...process.env,
        KUBECONFIG: kubeconfigFile,
        CHAKRATOR_NAMESPACE: ns,
        CHAKRATOR_LISTEN: `127.0.0.1:${port}`,
        CHAKRATOR_AUTH: "token",
        CHAKRATOR_LEADER_ELECTION: "true",
        CHAKRATOR_LEASE_NAMESPACE: ns,
        CHAKRATOR_LOG_LEVEL: "info",
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const proc: Proc = { child, url: `http://127.0.0.1:${port}`, lines: [] };
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) if (l.trim()) proc.lines.push(JSON.parse(l) as Record<string, unknown>);
    });
    procs.push(proc);
    await eventually(() => fetch(`${proc.url}/healthz`).then((r) => r.ok, () => false), 30_000, "healthz");
    return proc;
  }
  const logged = (p: Proc, re: RegExp) => p.lines.some((l) => typeof l.message === "string" && re.test(l.message));
  const lease = async () => (await admin.get<Lease>("coordination.k8s.io/v1", "Lease", "chakrator-leader", ns))!;
  const writeLease = async (holder: string, url: string, seconds: number) => {
    const current = await admin.get<Lease>("coordination.k8s.io/v1", "Lease", "chakrator-leader", ns);
    const spec = { holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: micro(new Date()), renewTime: micro(new Date()) };
    const metadata = { name: "chakrator-leader", namespace: ns, annotations: { "chakrator.dev/editor-url": url } };
    if (current) await admin.replace({ ...current, metadata: { ...current.metadata, ...metadata }, spec });
    else await admin.create({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata, spec });
  };

  before(async () => {
    info = await testCluster();
    admin = KubeClient.fromKubeConfig(kubeConfig(info));
    await installCrds(info);
    ns = await testNamespace(info, "relay");
    // The operator's identity: a ServiceAccount allowed everything, so a leaked token of
    // its own would be accepted, and anything the API server refuses is refused for the token alone.
    await admin.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "chakrator", namespace: ns } });
    await admin.apply({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: `${ns}-admin` }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" }, subjects: [{ kind: "ServiceAccount", name: "chakrator", namespace: ns }] }, { fieldManager: "tests", force: true });
    // Reconcilers act as their own ServiceAccount (here the namespace's default): let it reconcile in this namespace.
    await admin.create({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "reconciler", namespace: ns }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" }, subjects: [{ kind: "ServiceAccount", name: "default", namespace: ns }] });
    saToken = (await admin.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${ns}/serviceaccounts/chakrator/token`, {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    })).status.token;
    kubeconfigFile = join(tmp, "kubeconfig");
    writeFileSync(kubeconfigFile, kubeConfig(info, saToken).exportConfig(), { mode: 0o600 });
    await admin.create({
      apiVersion: "v1", kind: "ConfigMap",
      metadata: { name: "marked", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } },
      data: { "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  reconcile(res: Resource & { spec: { message: string } }, ctx) {
    ctx.log.info("begin", { message: res.spec.message });
    return { status: { message: res.spec.message } };
  },
} satisfies Reconciler;
` },
    });
  });
  after(async () => {
    for (const p of procs) p.child.kill("SIGKILL");
    for (const s of servers) s.close();
    await admin.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", `${ns}-admin`).catch(() => {});
    admin.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  let a: Proc;
  let loopbackSeen: IncomingHttpHeaders[];

  it("never contacts a non-loopback address from the Lease when there is no operator Service", async () => {
    // A real listener on this machine's other interface when it has one; else an address nobody has.
    const external = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === "IPv4")?.address;
    const far = await capture(external ?? "127.0.0.1");
    servers.push(far.server);
    const url = `http://${external ?? "192.0.2.1"}:${far.port}`;
    await writeLease("intruder-1", url, 3600);
    a = await startProcess();
    await eventually(() => logged(a, new RegExp(`not relaying the leader's logs from ${url.replace(/[.]/g, "\\.")}: .* is not a loopback address`)), 20_000, "the refusal in the log");
    assert.equal(far.seen.length, 0, "the listener was never contacted");
    assert.equal((await lease()).spec.holderIdentity, "intruder-1", "the operator follows, it does not grab a held Lease");
  });

  it("sends a loopback address from the Lease nothing the API server accepts", async () => {
    const near = await capture("127.0.0.1");
    servers.push(near.server);
    loopbackSeen = near.seen;
    await writeLease("intruder-2", `http://127.0.0.1:${near.port}`, 3600);
    await eventually(() => near.seen.length > 0, 20_000, "the follower's upgrade at the listener");
    const auth = near.seen[0]!.authorization ?? "";
    const token = /^Bearer (\S+)$/.exec(auth)?.[1];
    assert.ok(token, `an audience-bound bearer token (got ${auth ? "another header" : "none"})`);
    assert.notEqual(token, saToken, "not the ServiceAccount's own token");
    for (const h of near.seen) assert.doesNotMatch(JSON.stringify(h), new RegExp(saToken.slice(-20)));
    const captured = await admin.withToken(token);
    await assert.rejects(captured.request("GET", `/api/v1/namespaces/${ns}/configmaps`), (err: unknown) => err instanceof KubeApiError && err.status === 401, "the API server refuses the captured token");
    captured.close();
    const review = await admin.request<{ status: { authenticated?: boolean } }>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } });
    assert.notEqual(review.status.authenticated, true);
    assert.equal((await lease()).spec.holderIdentity, "intruder-2");
  });

  it("takes the Lease over when the intruder stops renewing, writes its own address, and reconciles", async () => {
    const held = await lease();
    await admin.replace({ ...held, spec: { ...held.spec, leaseDurationSeconds: 1 } });
    const mine = await eventually(async () => {
      const l = await lease();
      return l.spec.holderIdentity && !l.spec.holderIdentity.startsWith("intruder") ? l : undefined;
    }, 20_000, "the operator holds the Lease");
    assert.equal(mine.metadata.annotations?.["chakrator.dev/editor-url"], a.url);
    await admin.create({ ...mr, metadata: { name: "one", namespace: ns }, spec: { message: "led" } });
    await eventually(async () => (await admin.get<KubeObject & { status?: { message?: string } }>(mr.apiVersion, mr.kind, "one", ns))?.status?.message === "led", 20_000, "reconciled by the new leader");
  });

  it("relays the leader's logs to a second replica, which authenticates with the audience-bound token", async () => {
    const b = await startProcess();
    await eventually(() => logged(b, /leader is .*; relaying its reconcile logs from/), 20_000, "b follows a");
    const ws = new WebSocket(`${b.url.replace("http", "ws")}/api/logs?replay=0`, { headers: { authorization: `Bearer ${info.adminToken}` } });
    const relayed: Array<{ message?: string; resource?: string }> = [];
    ws.on("message", (d) => { const m = JSON.parse(String(d)) as { type: string; record?: { message?: string; resource?: string } }; if (m.type === "log" && m.record) relayed.push(m.record); });
    await new Promise((r, j) => { ws.once("open", r); ws.once("error", j); });
    try {
      await eventually(async () => {
        await admin.patch(mr.apiVersion, mr.kind, "one", ns, { spec: { message: `relay-${Date.now()}` } });
        await new Promise((r) => setTimeout(r, 500));
        return relayed.some((r) => r.message === "begin" && r.resource === `MyResource ${ns}/one`);
      }, 20_000, "the leader's record on the follower's stream");
    } finally {
      ws.close();
    }
    assert.ok(!logged(b, /refused the log stream/), "the leader admitted the follower");
    assert.ok(!b.lines.some((l) => l.message === "begin"), "the follower did not reconcile");
    assert.equal(loopbackSeen.length > 0, true);
  });

  it("with CHAKRATOR_SERVICE, follows only a leader address in that Service's EndpointSlices (loopback is no exception)", async () => {
    // (The API server refuses loopback addresses in EndpointSlices, so a local leader can
    // never pass this rule; kube/peers.test.ts shows the addresses that do.)
    const follower = await startProcess({ CHAKRATOR_SERVICE: "chakrator-editor" });
    // The Service's namespace defaults to the Lease's.
    await eventually(() => logged(follower, new RegExp(`log relay: followers accept a leader address only among the pod addresses in the EndpointSlices of Service ${ns}/chakrator-editor`)), 20_000, "the rule in force");
    await eventually(() => logged(follower, new RegExp(`not relaying the leader's logs from ${a.url.replace(/[.]/g, "\\.")}: 127\\.0\\.0\\.1 is not the address of a pod of Service ${ns}/chakrator-editor`)), 20_000, "the refusal without a matching slice");
    follower.child.kill("SIGKILL");
  });

  it("needs no more than the shipped RBAC: a relay token for its own ServiceAccount only, and the EndpointSlices of its namespace", async () => {
    const manifests = join(import.meta.dirname, "..", "..", "manifests");
    for (const file of ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"]) {
      for (const doc of parseAllDocuments(readFileSync(join(manifests, file), "utf8"))) await admin.apply(doc.toJS() as KubeObject, { fieldManager: "chakrator-tests", force: true });
    }
    const token = (await eventually(() => admin.request<{ status: { token: string } }>("POST", "/api/v1/namespaces/chakrator-system/serviceaccounts/chakrator/token", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    }), 10_000, "a ServiceAccount token")).status.token;
    const sa = KubeClient.fromKubeConfig(kubeConfig(info, token));
    try {
      assert.ok(await new RelayTokenSource(sa).token(), "a relay token for itself");
      assert.match((await new OperatorPeers(sa, { namespace: "chakrator-system", name: "chakrator-editor" }).refusal("http://10.0.0.9:8080"))!, /is not the address of a pod/, "it may list the EndpointSlices");
      const forbidden = (call: () => Promise<unknown>) => assert.rejects(call, (err: unknown) => err instanceof KubeApiError && err.status === 403);
      await forbidden(() => sa.request("POST", "/api/v1/namespaces/chakrator-system/serviceaccounts/default/token", { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { audiences: ["chakrator.dev/relay"] } } }));
      await forbidden(() => sa.list("discovery.k8s.io/v1", "EndpointSlice", { namespace: ns }));
    } finally {
      sa.close();
    }
  });
});
