/**
 * The editor's Permissions tab, end to end (real control plane, operator, server and
 * Chromium): it lists what the reconciler's ServiceAccount lacks for its kinds, offers
 * the YAML that grants it, and once that YAML is applied says nothing is missing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { parseAllDocuments } from "yaml";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace } from "../../operator/testenv/index.ts";
import { KubeClient, type KubeObject } from "../../operator/src/kube/client.ts";
import { runOperator, type RunningOperator } from "../../operator/src/lifecycle.ts";
import { LogBus } from "../../operator/src/telemetry/log.ts";
import { launchBrowser, openEditor } from "./browser.ts";

const ui = join(import.meta.dirname, "..");
const SLOW = 30_000;

describe("the Permissions tab (real control plane, operator, server and Chromium)", () => {
  let client: KubeClient;
  let ns: string;
  let run: RunningOperator;
  let browser: Browser;
  let page: Page;

  before(async () => {
    if (!existsSync(join(ui, "dist", "app.js"))) {
      const build = spawnSync(process.execPath, [join(ui, "build.ts")], { stdio: "inherit" });
      assert.equal(build.status, 0, "ui build failed");
    }
    const info = await testCluster();
    await installCrds(info);
    ns = await testNamespace(info, "ui-rbac");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace: ns, labels: { "chakrator.dev/reconciler": "true" }, annotations: { "chakrator.dev/service-account": "message" } }, data: sampleSource("01-message") });
    run = await runOperator({ kubeConfig: kubeConfig(info), log: new LogBus({ stdout: false }), namespace: ns, listen: { host: "127.0.0.1", port: 0 }, auth: "off", handleSignals: false, workers: 2, sandbox: { poolSize: 1 } });
    await eventually(() => run.operator.sources.state(`${ns}/message`)?.active?.number === 1, SLOW, "revision 1");
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  });
  after(async () => {
    await browser?.close();
    await run?.shutdown();
    client?.close();
  });

  it("shows what the ServiceAccount lacks, and that nothing is missing once the offered YAML is applied", async () => {
    await openEditor(page, `${run.url}/#${encodeURIComponent(`${ns}/message`)}`, { timeout: SLOW });
    await page.getByTestId("tab-rbac").click();
    await page.getByTestId("rbac-missing").waitFor({ timeout: SLOW });
    assert.equal(await page.getByTestId("rbac-sa").innerText(), `${ns}/message`);
    const missing = await page.getByTestId("rbac-missing").innerText();
    assert.match(missing, new RegExp(`patch myresources/status\\.example\\.com in ${ns}`));
    assert.match(missing, new RegExp(`create configmaps in ${ns}`));
    assert.match(await page.getByTestId("rbac-missing-title").innerText(), /lacks 15 permissions/);
    const yaml = await page.getByTestId("rbac-yaml").innerText();
    for (const doc of parseAllDocuments(yaml)) await client.apply(doc.toJS() as KubeObject, { fieldManager: "chakrator-tests", force: true });
    // Back to the tab: it asks again.
    await page.getByTestId("tab-revisions").click();
    await page.getByTestId("tab-rbac").click();
    await page.getByTestId("rbac-ok").waitFor({ timeout: SLOW });
    assert.equal(await page.getByTestId("rbac-missing").count(), 0);
  });
});
