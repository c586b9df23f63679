/**
 * End-to-end tests of the editor: real control plane, real operator and Koa server
 * (`runOperator`, auth "token"), real Chromium. Where ui.test.ts checks the UI against
 * a fake, this checks that the three editing paths meet in the cluster: what the editor
 * saves lands in the ConfigMap and becomes a revision that runs; what `kubectl edit`
 * writes shows up in the open editor; conflicts, rollback, dry run and RBAC behave as
 * the API server decides.
 *
 * The tests share one operator, one namespace and one signed-in page, and run in
 * order: each starts from the state the previous one left (noted per test).
 * Writes ui/dist/screenshot-e2e.png (1280x800); with UPDATE_SCREENSHOT=1 also copies it to
 * docs/editor.png (the README's picture), so a plain test run changes no tracked file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../../operator/testenv/index.ts";
import { KubeClient, type KubeObject } from "../../operator/src/kube/client.ts";
import { runOperator, type RunningOperator } from "../../operator/src/lifecycle.ts";
import { LogBus } from "../../operator/src/telemetry/log.ts";
import { editorText, launchBrowser, openEditor } from "./browser.ts";

const ui = join(import.meta.dirname, "..");
const repo = join(ui, "..");
const mr = { apiVersion: "example.com/v1", kind: "MyResource" } as const;
const NAME = "message";
/** Generous: the machine has two cores and runs an API server, etcd and Chromium. */
const SLOW = 30_000;

type ConfigMap = KubeObject & { data?: Record<string, string> };

describe("editor end to end (real control plane, operator, server and Chromium)", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let ns: string;
  let key: string;
  let run: RunningOperator;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const bus = new LogBus({ stdout: false });
  const seed = sampleSource("01-message");
  const pageErrors: string[] = [];
  /** Console reports of anything the server's Content-Security-Policy blocked. */
  const cspViolations: string[] = [];

  const getCm = async (): Promise<ConfigMap> => {
    const cm = await client.get<ConfigMap>("v1", "ConfigMap", NAME, ns);
    assert.ok(cm, "the reconciler ConfigMap exists");
    return cm;
  };
  /** Writes the reconciler's data as `kubectl edit` would: a replace at the current resourceVersion. */
  const kubectlEdit = async (edit: (source: string) => string): Promise<ConfigMap> => {
    const cm = await getCm();
    const data = { ...cm.data, "reconciler.ts": edit(cm.data?.["reconciler.ts"] ?? "") };
    return client.replace<ConfigMap>({ ...cm, data });
  };
  const activeRevision = (): number => run.operator.sources.state(key)?.active?.number ?? 0;
  const waitRevisionAbove = (n: number, what: string) => eventually(() => { const r = activeRevision(); return r > n ? r : undefined; }, SLOW, what);
  const saveState = () => page.getByTestId("save-state").getAttribute("data-state");

  /** Replaces the whole text of the editor's active file, as a paste would. */
  async function setEditorText(text: string): Promise<void> {
    await page.locator("[data-testid=editor] .cm-content").click();
    await page.keyboard.press("Control+a");
    await page.keyboard.insertText(text);
    await page.waitForFunction((t) => (document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as { text?: string } | null)?.text === t, text, { timeout: 5_000 });
  }
  async function appendToEditor(text: string): Promise<void> {
    await page.locator("[data-testid=editor] .cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.insertText(text);
  }
  /** Shows only log rows whose text matches `search` (the list is virtual: a row must be in view to be in the DOM). */
  async function logRow(search: string, timeout = SLOW) {
    await page.getByTestId("log-search").fill(search);
    const row = page.getByTestId("log-row").filter({ hasText: search }).first();
    await row.waitFor({ timeout });
    return row;
  }
  async function signIn(p: Page, token: string): Promise<void> {
    await openEditor(p, `${run.url}/#${encodeURIComponent(key)}`, { expect: "sign-in", timeout: SLOW });
    await p.getByTestId("sign-in-token").fill(token);
    await p.getByTestId("sign-in-submit").click();
  }

  before(async () => {
    // npm test bundles before the tests run; a bundle is rebuilt here only when missing,
    // so that this file never rewrites ui/dist while other test files serve it.
    if (!existsSync(join(ui, "dist", "app.js"))) {
      const build = spawnSync(process.execPath, [join(ui, "build.ts")], { stdio: "inherit" });
      assert.equal(build.status, 0, "ui build failed");
    }
    info = await testCluster();
    await installCrds(info);
    ns = await testNamespace(info, "e2e");
    key = `${ns}/${NAME}`;
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await client.create<ConfigMap>({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: NAME, namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: seed });
    run = await runOperator({
      kubeConfig: kubeConfig(info),
      log: bus,
      namespace: ns,
      listen: { host: "127.0.0.1", port: 0 },
      auth: "token",
      handleSignals: false,
      workers: 4,
      sandbox: { poolSize: 1 },
    });
    assert.match(run.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.doesNotMatch(run.url, /:0$/, "port 0 became a real port");
    await eventually(() => activeRevision() === 1, SLOW, "revision 1 of the seed");
    await client.create({ ...mr, metadata: { name: "demo", namespace: ns }, spec: { message: "hello from e2e" } });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  after(async () => {
    if (process.env["DEBUG_E2E"]) for (const r of bus.recent({ level: "debug" })) console.error(r.level, r.reconciler ?? "", r.resource ?? "", r.message);
    await context?.close();
    await browser?.close();
    await run?.shutdown();
    client?.close();
  });

  it("signs in: the sign-in view shows, a bad token is refused, the admin token opens the editor", async () => {
    await signIn(page, "not-a-real-token");
    await page.getByTestId("sign-in-error").waitFor({ timeout: SLOW });
    assert.match(await page.getByTestId("sign-in-error").innerText(), /refused/);
    assert.equal(await page.locator("[data-testid=editor] .cm-content").count(), 0, "no editor without a session");

    await page.getByTestId("sign-in-token").fill(info.adminToken);
    await page.getByTestId("sign-in-submit").click();
    await page.getByTestId("sign-in").waitFor({ state: "detached", timeout: SLOW });
    await page.waitForFunction((src) => (document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as { text?: string } | null)?.text === src, seed["reconciler.ts"], { timeout: SLOW });
    assert.equal(await page.getByTestId("user").innerText(), "chakrator-test-admin");
    assert.equal(await saveState(), "saved");
    assert.equal(await page.getByTestId("save").isDisabled(), false, "the admin may save");
    await page.locator("[data-testid=log-connection]", { hasText: "open" }).waitFor({ timeout: SLOW });
  });

  it("edits and saves with Ctrl-S: the ConfigMap changes, a new revision runs, its log line reaches the panel", async () => {
    const before = await getCm();
    const revBefore = activeRevision();
    const edited = seed["reconciler.ts"]!.replace('ctx.log.info("reconciling"', 'ctx.log.info("reconciled by e2e v2"');
    assert.notEqual(edited, seed["reconciler.ts"], "the seed logs \"reconciling\"");
    await setEditorText(edited);
    assert.equal(await saveState(), "unsaved");
    await page.keyboard.press("Control+s");
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor({ timeout: SLOW });

    const after = await getCm();
    assert.equal(after.data?.["reconciler.ts"], edited, "the editor's text is in the API server");
    assert.notEqual(after.metadata.resourceVersion, before.metadata.resourceVersion);
    const managers = (after.metadata["managedFields"] as Array<{ manager?: string }> | undefined)?.map((f) => f.manager);
    assert.ok(managers?.includes("chakrator-editor"), `written by the editor's field manager (${String(managers)})`);
    const rev = await waitRevisionAbove(revBefore, "the saved source accepted as a new revision");

    await client.patch(mr.apiVersion, mr.kind, "demo", ns, { spec: { message: "after the save" } });
    const row = await logRow("reconciled by e2e v2");
    assert.match(await row.innerText(), new RegExp(`${key}@${rev}`), "the line comes from the new revision");
    assert.match(await row.innerText(), /MyResource .*demo/);
    const child = await eventually(async () => { const c = await client.get<ConfigMap>("v1", "ConfigMap", "demo-message", ns); return c?.data?.["message"] === "after the save" ? c : undefined; }, SLOW, "child updated by the new revision");
    assert.ok(child);
    await page.getByTestId("log-search").fill("");
  });

  it("shows a type error inline and refuses to save it (422, problems view); the ConfigMap is unchanged", async () => {
    const before = await getCm();
    const saved = await editorText(page);
    await appendToEditor('\nconst e2eWrong: number = "not a number";\n');
    await page.locator("[data-testid=editor] .cm-lintRange-error").first().waitFor({ timeout: SLOW });
    await page.keyboard.press("Control+s");
    await page.getByTestId("problems").waitFor({ timeout: SLOW });
    assert.equal(await saveState(), "invalid");
    const problems = await page.getByTestId("problem").allInnerTexts();
    assert.ok(problems.some((p) => /reconciler\.ts:\d+:\d+/.test(p) && /not assignable to type 'number'/.test(p)), problems.join("\n"));
    const after = await getCm();
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, "nothing was written");
    assert.equal(after.data?.["reconciler.ts"], before.data?.["reconciler.ts"]);

    // Back to the saved text: nothing left to save.
    await page.getByTestId("dismiss-problems").click();
    await page.getByTestId("problems").waitFor({ state: "detached" });
    await setEditorText(saved);
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    await page.locator("[data-testid=editor] .cm-lintRange-error").first().waitFor({ state: "detached", timeout: SLOW });
  });

  it("shows an edit made through the API (kubectl edit) as an outside change; Reload loads it", async () => {
    const revBefore = activeRevision();
    const written = await kubectlEdit((s) => `// edited with kubectl\n${s}`);
    await page.getByTestId("outside-change").waitFor({ timeout: SLOW });
    assert.equal(await saveState(), "outside");
    assert.doesNotMatch(await editorText(page), /edited with kubectl/, "nothing is applied without asking");
    await page.getByTestId("reload").click();
    await page.getByTestId("outside-change").waitFor({ state: "detached", timeout: SLOW });
    assert.equal(await editorText(page), written.data?.["reconciler.ts"]);
    await page.locator(`[data-testid=save-state][data-state=saved]`).waitFor();
    assert.match(await page.getByTestId("save-state").innerText(), new RegExp(`rv ${written.metadata.resourceVersion}`));
    await waitRevisionAbove(revBefore, "the kubectl edit accepted as a revision");
  });

  it("a save that meets a newer ConfigMap gets the conflict view; nothing is overwritten; take theirs", async () => {
    const revBefore = activeRevision();
    await appendToEditor("// mine, from the editor\n");
    const theirs = await kubectlEdit((s) => `${s}// theirs, from kubectl\n`);
    await page.keyboard.press("Control+s");
    await page.getByTestId("conflict").waitFor({ timeout: SLOW });
    assert.equal(await saveState(), "conflict");
    assert.equal(await page.getByTestId("save").isDisabled(), true, "no second save while the conflict is open");
    assert.match(await page.getByTestId("conflict").innerText(), new RegExp(`resourceVersion ${theirs.metadata.resourceVersion}`));
    // The view diffs theirs (old) against mine (new).
    await page.getByTestId("conflict").getByTestId("diff-del").filter({ hasText: "theirs, from kubectl" }).waitFor({ timeout: SLOW });
    await page.getByTestId("conflict").getByTestId("diff-add").filter({ hasText: "mine, from the editor" }).waitFor();
    const cm = await getCm();
    assert.equal(cm.metadata.resourceVersion, theirs.metadata.resourceVersion, "the editor's save did not overwrite the kubectl edit");
    assert.doesNotMatch(cm.data?.["reconciler.ts"] ?? "", /mine, from the editor/);

    await page.getByTestId("take-theirs").click();
    await page.getByTestId("conflict").waitFor({ state: "detached" });
    assert.equal(await editorText(page), theirs.data?.["reconciler.ts"]);
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    await waitRevisionAbove(revBefore, "the kubectl edit accepted as a revision");
  });

  it("rolls back to revision #1: the ConfigMap gets its source and the operator records a new revision", async () => {
    const revBefore = activeRevision();
    assert.ok(revBefore >= 4, `revisions so far: ${revBefore}`);
    await page.getByTestId("tab-revisions").click();
    await page.locator(`[data-testid=revision][data-revision='${revBefore}']`).waitFor({ timeout: SLOW });
    assert.ok((await page.getByTestId("revision").count()) >= 2, "the list shows the history");
    await page.locator("[data-testid=revision][data-revision='1']").click();
    await page.locator("chk-revisions").getByTestId("diff").waitFor();
    await page.getByTestId("rollback").click();

    const cm = await eventually(async () => { const c = await getCm(); return c.data?.["reconciler.ts"] === seed["reconciler.ts"] ? c : undefined; }, SLOW, "revision 1's source back in the ConfigMap");
    const rev = await waitRevisionAbove(revBefore, "the rollback recorded as a new revision");
    assert.equal(rev, revBefore + 1, "a rollback is a new revision, not a jump back to #1");
    await page.waitForFunction((src) => (document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as { text?: string } | null)?.text === src, seed["reconciler.ts"], { timeout: SLOW });
    await page.locator(`[data-testid=revision][data-revision='${rev}']`, { hasText: "active" }).waitFor({ timeout: SLOW });
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    const records = await client.list("v1", "ConfigMap", { namespace: ns, labelSelector: `chakrator.dev/revision-of=${NAME}` });
    assert.ok(records.items.some((r) => r.metadata.labels?.["chakrator.dev/revision"] === String(rev)), "the revision ConfigMap exists");
  });

  it("dry run against the live MyResource shows its child, identical to the live one", async () => {
    await page.getByTestId("tab-dry-run").click();
    await page.locator("[data-testid=dry-run-target] option", { hasText: `${ns}/demo` }).waitFor({ state: "attached", timeout: SLOW });
    await page.getByTestId("dry-run-target").selectOption(`${ns}/demo`);
    await page.getByTestId("dry-run-run").click();
    await page.getByTestId("dry-run-result").waitFor({ timeout: SLOW });
    assert.deepEqual(await page.getByTestId("dry-run-child").allInnerTexts(), [`ConfigMap ${ns}/demo-message`]);
    const result = await page.getByTestId("dry-run-result").innerText();
    assert.match(result, /^ok\b/, result);
    assert.match(result, /reconciling \{"name":"demo"\}/, "the run's own ctx.log lines are shown");
    // Compared with the live child the engine made from the same source: the API server's
    // key order, server-set metadata and the engine's status fields are not changes.
    await page.getByTestId("dry-run-diff").waitFor({ timeout: SLOW });
    assert.equal(await page.getByTestId("dry-run-error").count(), 0);
    const diff = page.locator("chk-dry-run").getByTestId("diff");
    const changed = await diff.locator("[data-testid=diff-add], [data-testid=diff-del]").allInnerTexts();
    assert.deepEqual(changed, [], "an unchanged child and status diff as identical");
    await diff.getByTestId("diff-identical").waitFor();
  });

  it("the unprivileged user signs in but may not save: Save is disabled and the API server refuses (403)", async () => {
    const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const p = await other.newPage();
      await signIn(p, info.userToken);
      await p.getByTestId("user").waitFor({ timeout: SLOW });
      assert.equal(await p.getByTestId("user").innerText(), "chakrator-test-user");
      await p.getByTestId("save").waitFor();
      assert.equal(await p.getByTestId("save").isDisabled(), true);
      assert.equal(await p.getByTestId("save").getAttribute("title"), "You may not update this ConfigMap");
      // Least disclosure: the list holds only reconcilers the person may get (none), even
      // with the reconciler's name in the URL; no source is shown.
      await p.getByTestId("reconciler-none").waitFor({ timeout: SLOW });
      assert.equal(await p.getByTestId("load-error").count(), 0, "nothing was loaded");
      assert.equal(await editorText(p), "", "no source is shown to someone who may not read it");
      // The API server refuses the source too, with the person's own token.
      const read = await p.evaluate(async (k) => (await fetch(`/api/reconcilers/${k}`)).status, key);
      assert.equal(read, 403);
      // The log stream refuses the upgrade (403: no readable namespace): the panel says so
      // and stops retrying, instead of "retrying" forever.
      const conn = p.locator("[data-testid=log-connection][data-state=denied]");
      await conn.waitFor({ timeout: SLOW });
      assert.match(await conn.innerText(), /no access to logs/);
      let attempts = 0;
      p.on("websocket", () => attempts++);
      await p.waitForTimeout(3_000);
      assert.equal(attempts, 0, "no reconnect attempts after the refusal");
      assert.equal(await p.getByTestId("log-row").count(), 0);
      // The API, with this session's cookie, refuses a save of a source that compiles.
      const cm = await getCm();
      const status = await p.evaluate(async ({ key, rv, src }) => {
        const res = await fetch(`/api/reconcilers/${key}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ files: { "reconciler.ts": src }, resourceVersion: rv }) });
        return res.status;
      }, { key, rv: cm.metadata.resourceVersion ?? "", src: `// hijacked\n${seed["reconciler.ts"]}` });
      assert.equal(status, 403);
      assert.doesNotMatch((await getCm()).data?.["reconciler.ts"] ?? "", /hijacked/);
    } finally {
      await other.close();
    }
  });

  it("takes a screenshot of the editor with real log lines (ui/dist/screenshot-e2e.png)", async () => {
    await page.getByTestId("log-search").fill("");
    for (const name of ["alpha", "beta"]) await client.create({ ...mr, metadata: { name, namespace: ns }, spec: { message: `hello ${name}` } });
    await eventually(async () => (await client.get("v1", "ConfigMap", "beta-message", ns)) !== undefined, SLOW, "children of the new resources");
    await page.locator("[data-testid=log-row]", { hasText: `${ns}/beta` }).first().waitFor({ timeout: SLOW });
    assert.ok((await page.getByTestId("log-row").count()) >= 5, "a few real log lines");
    await page.getByTestId("tab-revisions").click();
    await page.locator("[data-testid=revision][data-revision='2']").click();
    await page.locator("chk-revisions").getByTestId("diff").waitFor();
    await page.locator("[data-testid=editor] .cm-content").click();
    await page.keyboard.press("Control+Home");
    await page.setViewportSize({ width: 1280, height: 800 });
    const shot = join(ui, "dist", "screenshot-e2e.png");
    await page.screenshot({ path: shot });
    assert.ok(statSync(shot).size > 10_000, "a real picture was written");
    if (process.env.UPDATE_SCREENSHOT === "1") {
      mkdirSync(join(repo, "docs"), { recursive: true });
      copyFileSync(shot, join(repo, "docs", "editor.png"));
    }
    assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
    assert.deepEqual(cspViolations, [], "the CSP blocks nothing the editor uses");
  });
});
