// Credentials without the library: the test control plane's kubeconfig read directly
// works against the real API server as the library's does; the in-cluster token is
// re-read (it rotates); relative files resolve against the kubeconfig's folder; and
// what is not read here (an exec plugin, several files) goes to the library.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { rootCertificates } from "node:tls";
import { testCluster, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeApiError, KubeClient } from "./client.ts";
import { fromKubeconfigFile, loadCredentials } from "./credentials.ts";

describe("loadCredentials", () => {
  let info: ControlPlaneInfo;
  let dir: string;
  before(async () => {
    info = await testCluster();
    dir = mkdtempSync(join(tmpdir(), "credentials-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const headers = async (c: { applyToHTTPSOptions(o: RequestOptions): Promise<void> }) => {
    const o: RequestOptions = {};
    await c.applyToHTTPSOptions(o);
    return { options: o, authorization: (o.headers as Record<string, string> | undefined)?.Authorization };
  };

  it("reads a token kubeconfig itself, and the client it makes talks to the API server", async () => {
    const { credentials, source } = await loadCredentials({ inCluster: false, env: { KUBECONFIG: info.kubeconfig } });
    assert.equal(source, "kubeconfig");
    assert.equal(credentials.getCurrentCluster()?.server, info.server);
    const { authorization, options } = await headers(credentials);
    assert.equal(authorization, `Bearer ${info.adminToken}`);
    assert.ok(options.ca, "the CA from certificate-authority-data");
    const client = KubeClient.fromKubeConfig(credentials);
    try {
      const version = await client.request<{ gitVersion: string }>("GET", "/version");
      assert.match(version.gitVersion, /^v1\./);
      const list = await client.list("v1", "Namespace");
      assert.ok(list.items.some((n) => n.metadata.name === "default"));
    } finally {
      client.close();
    }
  });

  // A public root CA did not sign the test API server's certificate.
  it("refuses a wrong CA like the library would (TLS is verified)", async () => {
    const wrong = join(dir, "wrong-ca.yaml");
    writeFileSync(wrong, readFileSync(info.kubeconfig, "utf8").replace(/certificate-authority-data: .*/, `certificate-authority-data: ${Buffer.from(rootCertificates[0]!).toString("base64")}`));
    const client = KubeClient.fromKubeConfig(fromKubeconfigFile(wrong)!);
    try {
      await assert.rejects(client.request("GET", "/version"), (err: unknown) => err instanceof KubeApiError && err.status === 0);
    } finally {
      client.close();
    }
  });

  it("resolves tokenFile and certificate-authority relative to the kubeconfig, and re-reads the token", async () => {
    writeFileSync(join(dir, "ca.crt"), readFileSync(info.caFile));
    writeFileSync(join(dir, "token"), "first\n");
    const file = join(dir, "relative.yaml");
    writeFileSync(file, [
      "apiVersion: v1", "kind: Config", "current-context: c",
      "clusters: [{name: k, cluster: {server: 'https://example.invalid:6443', certificate-authority: ca.crt, tls-server-name: kubernetes}}]",
      "users: [{name: u, user: {tokenFile: token}}]",
      "contexts: [{name: c, context: {cluster: k, user: u}}]",
    ].join("\n"));
    const c = fromKubeconfigFile(file)!;
    assert.ok(c);
    const first = await headers(c);
    assert.equal(first.authorization, "Bearer first");
    assert.equal(first.options.servername, "kubernetes");
    assert.deepEqual(first.options.ca, readFileSync(info.caFile));
    writeFileSync(join(dir, "token"), "second\n");
    assert.equal((await headers(c)).authorization, "Bearer second");
  });

  it("in a pod: the ServiceAccount's CA and token (read on each call), the service address", async () => {
    const sa = mkdtempSync(join(dir, "sa-"));
    writeFileSync(join(sa, "ca.crt"), "CA");
    writeFileSync(join(sa, "token"), "t1");
    const { credentials, source } = await loadCredentials({ inCluster: true, env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: sa });
    assert.equal(source, "in-cluster");
    assert.equal(credentials.getCurrentCluster()?.server, "https://[fd00::1]:443");
    assert.equal((await headers(credentials)).authorization, "Bearer t1");
    writeFileSync(join(sa, "token"), "t2");
    assert.equal((await headers(credentials)).authorization, "Bearer t2");
    await assert.rejects(loadCredentials({ inCluster: true, env: {}, serviceAccountDir: sa }), /KUBERNETES_SERVICE_HOST/);
  });

  it("leaves exec plugins and merged kubeconfigs to the library", async () => {
    const exec = join(dir, "exec.yaml");
    writeFileSync(exec, [
      "apiVersion: v1", "kind: Config", "current-context: c",
      `clusters: [{name: k, cluster: {server: '${info.server}', certificate-authority: '${info.caFile}'}}]`,
      `users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/echo, args: ['{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${info.adminToken}"}}'], interactiveMode: Never}}}]`,
      "contexts: [{name: c, context: {cluster: k, user: u}}]",
    ].join("\n"));
    assert.equal(fromKubeconfigFile(exec), undefined);
    const viaExec = await loadCredentials({ inCluster: false, env: { KUBECONFIG: exec } });
    assert.equal(viaExec.source, "library");
    const client = KubeClient.fromKubeConfig(viaExec.credentials);
    try {
      assert.match((await client.request<{ gitVersion: string }>("GET", "/version")).gitVersion, /^v1\./);
    } finally {
      client.close();
    }
    const merged = await loadCredentials({ inCluster: false, env: { KUBECONFIG: `${info.kubeconfig}:${exec}` } });
    assert.equal(merged.source, "library");
  });
});
