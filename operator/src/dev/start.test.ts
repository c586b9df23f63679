// The README's start command, as a person runs it. With no cluster: `npm start` brings
// up a local control plane, installs the CRD and samples, serves the editor, reconciles
// the sample, and Ctrl-C stops everything it started. Against a real cluster (the test
// control plane as the current context): it says which context and server it uses,
// takes reconciler ConfigMaps from the context's namespace only, and off loopback it
// requires sign-in (and refuses to start with auth off).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { eventually, freePort, kubeConfig, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient } from "../kube/client.ts";

const start = join(import.meta.dirname, "start.ts");

function spawnStart(env: Record<string, string>) {
  const child = spawn(process.execPath, [start], { env: { ...process.env, NO_COLOR: "", CHAKRATOR_TEST_CLUSTER: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const io = { out: "", stdout: "" };
  child.stdout.on("data", (d: Buffer) => { io.out += d.toString(); io.stdout += d.toString(); });
  child.stderr.on("data", (d: Buffer) => { io.out += d.toString(); });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, io, exited };
}

it("npm start without a reachable context: local control plane, samples installed, editor up, clean stop", async () => {
  const port = await freePort();
  const { child, io, exited } = spawnStart({ KUBECONFIG: "/nonexistent/kubeconfig", CHAKRATOR_LISTEN: `127.0.0.1:${port}` });
  try {
    await eventually(() => /running\. Editor: http:\/\/127\.0\.0\.1:\d+/.test(io.out), 120_000, "the start banner");
    const out = io.out;
    assert.match(out, /no reachable kube context: starting a local control plane/);
    assert.match(out, /installed in namespace "default": CRD myresources\.example\.com, reconciler ConfigMap message-reconciler, MyResource hello/);
    assert.match(out, /running against the local control plane, server https:\/\/127\.0\.0\.1:\d+; reconciler ConfigMaps from namespace "default"/);
    assert.match(out, /kubectl get myresources -w/);
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out)?.[1];
    assert.ok(kubeconfig && existsSync(kubeconfig), "it prints a kubeconfig that exists");
    // The editor answers on CHAKRATOR_LISTEN's port (loopback: no sign-in) and knows the sample reconciler.
    const list = await eventually(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/api/reconcilers`);
      const body = (await r.json()) as { items: Array<{ name: string; active?: { number: number } }> };
      return body.items.find((i) => i.name === "message-reconciler" && i.active) ? body : undefined;
    }, 30_000, "the reconciler in the editor's list");
    assert.equal(list.items.length, 1);
    // The sample resource was reconciled (its log line is readable as text, not JSON).
    await eventually(() => /\[default\/message-reconciler rev 1 MyResource default\/hello\] reconciling/.test(io.out), 30_000, "the sample reconciled");
    // stdout is a pipe, not a terminal: no escape codes at all.
    assert.ok(io.stdout.length > 0);
    assert.doesNotMatch(io.stdout, /\x1b\[/);
    child.kill("SIGINT");
    assert.equal(await exited, 0, io.out.slice(-2000));
    await eventually(() => !existsSync(kubeconfig), 15_000, "the local control plane's files removed");
  } finally {
    child.kill("SIGKILL");
  }
});

describe("npm start against a reachable cluster", () => {
  const tmp = mkdtempSync(join(tmpdir(), "chakrator-start-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("names the context and server, takes reconcilers from the context's namespace only, and requires sign-in off loopback", async () => {
    const info = await testCluster();
    const ns = await testNamespace(info, "start");
    const other = await testNamespace(info, "start-other");
    // A reconciler ConfigMap elsewhere in the cluster: a laptop's operator must not pick it up.
    const admin = KubeClient.fromKubeConfig(kubeConfig(info));
    await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "elsewhere", namespace: other, labels: { "chakrator.dev/reconciler": "true" } }, data: { "reconciler.ts": "export default {}" } });
    admin.close();
    // The test cluster as the person's current context, with a namespace set on it.
    const kc = kubeConfig(info);
    const context = kc.getCurrentContext();
    kc.contexts = kc.contexts.map((c) => (c.name === context ? { ...c, namespace: ns } : c));
    const file = join(tmp, "kubeconfig");
    writeFileSync(file, kc.exportConfig(), { mode: 0o600 });

    const port = await freePort();
    const { child, io, exited } = spawnStart({ KUBECONFIG: file, CHAKRATOR_LISTEN: `0.0.0.0:${port}` });
    try {
      await eventually(() => /running\. Editor: /.test(io.out), 60_000, "the start banner");
      assert.match(io.out, new RegExp(`using kube context "${context}", server ${info.server.replace(/[.]/g, "\\.")}`));
      assert.match(io.out, new RegExp(`reconciler ConfigMaps from namespace "${ns}"`));
      assert.match(io.out, /sign in with a Kubernetes bearer token/);
      assert.doesNotMatch(io.out, /local control plane/);
      // Off loopback: no token, no editor.
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/reconcilers`)).status, 401);
      const list = await eventually(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/api/reconcilers`, { headers: { authorization: `Bearer ${info.adminToken}` } });
        const body = (await r.json()) as { items: Array<{ namespace: string; name: string; active?: unknown }> };
        return body.items.some((i) => i.name === "message-reconciler" && i.active) ? body : undefined;
      }, 30_000, "the sample reconciler active");
      assert.deepEqual(list.items.map((i) => `${i.namespace}/${i.name}`), [`${ns}/message-reconciler`]);
      assert.doesNotMatch(io.stdout, /\x1b\[/);
      child.kill("SIGINT");
      assert.equal(await exited, 0, io.out.slice(-2000));
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("refuses CHAKRATOR_AUTH=off on a non-loopback address, before touching any cluster", () => {
    const r = spawnSync(process.execPath, [start], { env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig", CHAKRATOR_LISTEN: "0.0.0.0:0", CHAKRATOR_AUTH: "off" }, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refusing CHAKRATOR_AUTH=off on 0\.0\.0\.0/);
    assert.doesNotMatch(r.stderr, /control plane/);
  });
});
