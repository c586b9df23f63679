// The README's start command, as a person runs it with no cluster: `npm start` brings
// up a local control plane, installs the CRD and samples, serves the editor, reconciles
// the sample, and Ctrl-C stops everything it started.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { eventually, freePort } from "../../testenv/index.ts";

it("npm start without a reachable context: local control plane, samples installed, editor up, clean stop", async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, "start.ts")], {
    env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig", PORT: String(port), CHAKRATOR_TEST_CLUSTER: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
  child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    await eventually(() => /running\. Editor: http:\/\/127\.0\.0\.1:\d+/.test(out), 120_000, "the start banner");
    assert.match(out, /no reachable kube context: starting a local control plane/);
    assert.match(out, /installed in namespace "default": CRD myresources\.example\.com, reconciler ConfigMap message-reconciler, MyResource hello/);
    assert.match(out, /kubectl get myresources -w/);
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out)?.[1];
    assert.ok(kubeconfig && existsSync(kubeconfig), "it prints a kubeconfig that exists");
    // The editor answers (loopback: no sign-in) and knows the sample reconciler.
    const list = await eventually(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/api/reconcilers`);
      const body = (await r.json()) as { items: Array<{ name: string; active?: { number: number } }> };
      return body.items.find((i) => i.name === "message-reconciler" && i.active) ? body : undefined;
    }, 30_000, "the reconciler in the editor's list");
    assert.equal(list.items.length, 1);
    // The sample resource was reconciled (its log line is readable as text, not JSON).
    await eventually(() => /\[default\/message-reconciler rev 1 MyResource default\/hello\] reconciling/.test(out), 30_000, "the sample reconciled");
    child.kill("SIGINT");
    assert.equal(await exited, 0, out.slice(-2000));
    await eventually(() => !existsSync(kubeconfig), 15_000, "the local control plane's files removed");
  } finally {
    child.kill("SIGKILL");
  }
});
