/**
 * Browser tests of the editor UI in real Chromium against an in-memory fake server
 * (fake-server.ts): loading, diagnostics, save, outside edits, conflicts, 422, rollback,
 * dry run, the log panel, sign-in and read-only mode. It tests the UI, not the server.
 * Writes ui/dist/screenshot.png (1280x800) as a by-product.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { editorText, launchBrowser, openEditor } from "./browser.ts";
import { FakeServer } from "./fake-server.ts";

const ui = join(import.meta.dirname, "..");
const dist = join(ui, "dist");

describe("editor UI (fake server)", () => {
  let fake: FakeServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    if (!existsSync(join(dist, "app.js"))) {
      const r = spawnSync(process.execPath, [join(ui, "build.ts")], { stdio: "inherit" });
      assert.equal(r.status, 0, "ui build failed");
    }
    fake = new FakeServer(dist);
    await fake.start();
    browser = await launchBrowser();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await fake?.stop();
  });

  beforeEach(async () => {
    await context?.close();
    fake.reset();
    errors.length = 0;
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
  });

  async function typeAtEnd(text: string): Promise<void> {
    await page.locator("[data-testid=editor] .cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type(text);
    await page.keyboard.press("Escape"); // close a completion popup, if any
  }

  async function eventuallyTrue(check: () => boolean, what: string, timeout = 10_000): Promise<void> {
    const end = Date.now() + timeout;
    while (!check()) {
      if (Date.now() > end) assert.fail(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function waitForClients(): Promise<void> {
    for (let i = 0; i < 100 && fake.clients === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(fake.clients > 0, "the UI opened the log stream");
  }

  it("loads the source into the editor, with file tabs and the local-mode banner", async () => {
    await openEditor(page, fake.url);
    assert.match(await editorText(page), /ctx\.log\.info\("reconciling"/);
    await page.getByTestId("local-mode").waitFor();
    assert.match(await page.getByTestId("local-mode").innerText(), /local mode: no sign-in \(loopback only\)/);
    assert.deepEqual(await page.getByTestId("file-tab").allInnerTexts(), ["reconciler.ts", "lib.ts"]);
    assert.equal(await page.getByTestId("save-state").getAttribute("data-state"), "saved");
    await page.getByTestId("badge-active").waitFor();
    await page.locator("[data-file='lib.ts']").click();
    assert.match(await editorText(page), /labels/);
    assert.deepEqual(errors, []);
  });

  it("shows an inline diagnostic from /api/validate while typing", async () => {
    await openEditor(page, fake.url);
    await typeAtEnd("const x = TYPE_ERROR;");
    await page.locator("[data-testid=editor] .cm-lintRange-error").first().waitFor({ timeout: 5000 });
    assert.equal(await page.getByTestId("save-state").getAttribute("data-state"), "unsaved");
    assert.ok(fake.validations > 0);
  });

  it("shows a busy validation (429) as a countdown, not an error, and retries after Retry-After", async () => {
    fake.busyValidations = 1;
    fake.busyRetryAfter = 2;
    await openEditor(page, fake.url);
    await typeAtEnd("const x = TYPE_ERROR; // BUSY");
    const busy = page.getByTestId("validation-busy");
    await busy.waitFor({ timeout: 5000 });
    assert.match(await busy.innerText(), /^validation is busy, retrying in [12] s$/);
    // The retry (same text) gets the diagnostic; the notice goes away.
    await page.locator("[data-testid=editor] .cm-lintRange-error").first().waitFor({ timeout: 10_000 });
    await busy.waitFor({ state: "detached", timeout: 5000 });
    assert.equal(fake.busyValidations, 0, "the 429 was answered");
    assert.deepEqual(fake.validatedFor[0], { namespace: "default", name: "message" });
    assert.equal(await page.getByTestId("save-state").getAttribute("data-state"), "unsaved", "no error state");
    assert.deepEqual(errors, []);
  });

  it("says a busy dry run (429) will take a retry, with the server's Retry-After", async () => {
    fake.busyDryRuns = 1;
    fake.busyRetryAfter = 7;
    await openEditor(page, fake.url);
    await page.getByTestId("tab-dry-run").click();
    await page.locator("[data-testid=dry-run-target] option", { hasText: "default/demo" }).waitFor({ state: "attached" });
    await page.getByTestId("dry-run-run").click();
    await page.getByTestId("dry-run-error").waitFor();
    assert.equal(await page.getByTestId("dry-run-error").innerText(), "dry runs are busy, try again in 7 s");
    assert.deepEqual(fake.dryRuns[0]?.reconciler, { namespace: "default", name: "message" });
  });

  it("saves with Ctrl-S, sending the loaded resourceVersion; its own echo is not an outside change", async () => {
    await openEditor(page, fake.url);
    await waitForClients();
    await typeAtEnd("// saved from the test");
    await page.keyboard.press("Control+s");
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    assert.equal(fake.puts.length, 1);
    assert.equal(fake.puts[0]?.body.resourceVersion, "100");
    assert.match(fake.puts[0]?.body.files["reconciler.ts"] ?? "", /\/\/ saved from the test$/);
    assert.equal(fake.puts[0]?.body.force, undefined);
    await page.waitForTimeout(200); // the fake echoes a source-changed notice for rv 101
    assert.equal(await page.getByTestId("outside-change").count(), 0);
  });

  it("shows an outside change at once; Compare diffs it; Reload loads the new text", async () => {
    await openEditor(page, fake.url);
    await waitForClients();
    fake.outsideEdit("default/message", { "reconciler.ts": "// edited with kubectl\nexport default {};\n", "lib.ts": "export {};\n" });
    await page.getByTestId("outside-change").waitFor();
    await page.getByTestId("compare").click();
    await page.getByTestId("diff").waitFor();
    assert.ok((await page.getByTestId("diff-add").count()) > 0);
    assert.doesNotMatch(await editorText(page), /edited with kubectl/, "nothing is applied without asking");
    await page.getByTestId("reload").click();
    await page.getByTestId("outside-change").waitFor({ state: "detached" });
    assert.match(await editorText(page), /edited with kubectl/);
  });

  it("a 409 shows the conflict view; keep mine re-saves with the new resourceVersion", async () => {
    await openEditor(page, fake.url);
    const r = fake.reconcilers.get("default/message");
    assert.ok(r);
    r.files = { ...r.files, "reconciler.ts": `${r.files["reconciler.ts"]}// theirs\n` };
    r.resourceVersion = 150; // changed without a notice reaching the UI
    await typeAtEnd("// mine");
    await page.getByTestId("save").click();
    await page.getByTestId("conflict").waitFor();
    assert.match(await page.getByTestId("conflict").innerText(), /theirs/);
    await page.getByTestId("keep-mine").click();
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    assert.equal(fake.puts.length, 2);
    assert.equal(fake.puts[1]?.body.resourceVersion, "150");
    assert.match(fake.puts[1]?.body.files["reconciler.ts"] ?? "", /\/\/ mine$/);
  });

  it("a 409 offers take theirs, which replaces the editor's text", async () => {
    await openEditor(page, fake.url);
    const r = fake.reconcilers.get("default/message");
    assert.ok(r);
    r.files = { ...r.files, "reconciler.ts": "// theirs only\n" };
    r.resourceVersion = 160;
    await typeAtEnd("// mine");
    await page.keyboard.press("Control+s");
    await page.getByTestId("take-theirs").click();
    await page.getByTestId("conflict").waitFor({ state: "detached" });
    assert.equal(await editorText(page), "// theirs only\n");
    assert.equal(await page.getByTestId("save-state").getAttribute("data-state"), "saved");
  });

  it("a 422 shows the diagnostics and offers save anyway (force)", async () => {
    await openEditor(page, fake.url);
    await typeAtEnd("COMPILE_ERROR;");
    await page.keyboard.press("Control+s");
    await page.getByTestId("problems").waitFor();
    assert.match(await page.getByTestId("problem").first().innerText(), /reconciler\.ts:\d+:1/);
    await page.getByTestId("save-anyway").click();
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    assert.equal(fake.puts.length, 2);
    assert.equal(fake.puts[1]?.body.force, true);
  });

  it("rollback sends the chosen revision and the loaded resourceVersion", async () => {
    await openEditor(page, fake.url);
    await page.locator("[data-testid=revision][data-revision='1']").click();
    await page.getByTestId("diff").waitFor();
    await page.getByTestId("rollback").click();
    await page.waitForFunction(() => document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor")?.text.includes("toLowerCase"));
    assert.deepEqual(fake.rollbacks.map((r) => r.body), [{ revision: 1, resourceVersion: "100" }]);
  });

  it("dry run renders the children and a diff against what is live", async () => {
    await openEditor(page, fake.url);
    await page.getByTestId("tab-dry-run").click();
    await page.locator("[data-testid=dry-run-target] option", { hasText: "default/demo" }).waitFor({ state: "attached" });
    await page.getByTestId("dry-run-run").click();
    await page.getByTestId("dry-run-result").waitFor();
    assert.deepEqual(await page.getByTestId("dry-run-child").allInnerTexts(), ["ConfigMap demo-message"]);
    await page.getByTestId("dry-run-diff").waitFor();
    assert.deepEqual(fake.dryRuns[0]?.target, { namespace: "default", name: "demo" });
    assert.match(fake.dryRuns[0]?.files["reconciler.ts"] ?? "", /reconciling/);
  });

  it("dry run shows what validate and mutate say: the verdict, the message, and mutate as a diff", async () => {
    const object = { apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "demo" }, spec: { message: "hi" } };
    fake.dryRunAdmission = {
      operation: "UPDATE", allowed: false, object,
      mutate: { object: { ...object, spec: { message: "hi", replicas: 1 } }, patch: [{ op: "add", path: "/spec/replicas", value: 1 }] },
      validate: { allowed: false, message: "spec.message must be longer" },
    };
    await openEditor(page, fake.url);
    await page.getByTestId("tab-dry-run").click();
    await page.locator("[data-testid=dry-run-target] option", { hasText: "default/demo" }).waitFor({ state: "attached" });
    await page.getByTestId("dry-run-run").click();
    await page.getByTestId("dry-run-admission").waitFor();
    assert.equal(await page.getByTestId("dry-run-admission-verdict").innerText(), "refused");
    assert.equal(await page.getByTestId("dry-run-admission-message").innerText(), "spec.message must be longer");
    const diff = page.getByTestId("dry-run-admission-diff");
    await diff.getByTestId("diff-add").filter({ hasText: '"replicas": 1' }).waitFor();
    assert.equal(await diff.getByTestId("diff-del").filter({ hasText: "replicas" }).count(), 0);
  });

  it("dry run: a live child that only differs in key order, server-set metadata and engine status shows as identical", async () => {
    fake.dryRunLive = {
      children: [{
        metadata: {
          uid: "0f3c", resourceVersion: "4711", creationTimestamp: "2025-01-01T00:00:00Z", namespace: "default", name: "demo-message",
          managedFields: [{ manager: "chakrator", operation: "Apply" }],
          ownerReferences: [{ apiVersion: "example.com/v1", kind: "MyResource", name: "demo", uid: "9a9a", controller: true, blockOwnerDeletion: true }],
        },
        data: { message: "HELLO" }, kind: "ConfigMap", apiVersion: "v1",
      }],
      status: { observedGeneration: 3, conditions: [{ type: "Ready", status: "True", reason: "Reconciled" }], message: "HELLO" },
    };
    await openEditor(page, fake.url);
    await page.getByTestId("tab-dry-run").click();
    await page.locator("[data-testid=dry-run-target] option", { hasText: "default/demo" }).waitFor({ state: "attached" });
    await page.getByTestId("dry-run-run").click();
    await page.getByTestId("dry-run-diff").waitFor();
    await page.locator("chk-dry-run").getByTestId("diff-identical").waitFor();
    assert.equal(await page.locator("chk-dry-run").getByTestId("diff-add").count(), 0);
    assert.equal(await page.locator("chk-dry-run").getByTestId("diff-del").count(), 0);

    // A field the reconciler sets differently still shows.
    fake.dryRunLive = { ...fake.dryRunLive, children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "demo-message", uid: "1" }, data: { message: "hello" } }] };
    await page.getByTestId("dry-run-run").click();
    await page.locator("chk-dry-run").getByTestId("diff-del").filter({ hasText: '"message": "hello"' }).waitFor();
    assert.equal(await page.locator("chk-dry-run").getByTestId("diff-identical").count(), 0);
  });

  it("a source that cannot be loaded (403) is its own state: the indicator and the editor area say why", async () => {
    const r = fake.reconcilers.get("default/message");
    assert.ok(r);
    r.canRead = false;
    await page.goto(fake.url);
    await page.getByTestId("load-error").waitFor();
    const state = page.getByTestId("save-state");
    assert.equal(await state.getAttribute("data-state"), "error");
    assert.match(await state.innerText(), /^Could not load: .*forbidden.*\(403 Forbidden\)/);
    assert.match(await page.getByTestId("load-error").innerText(), /default\/message[\s\S]*cannot get resource "configmaps"/);
    assert.equal(await page.locator("[data-testid=editor]").count(), 0, "no empty editor pretending to be the source");
    assert.equal(await page.getByTestId("save").isDisabled(), true);
    // Access granted: trying again loads it.
    r.canRead = true;
    await page.getByTestId("retry-load").click();
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor();
    assert.match(await editorText(page), /ctx\.log\.info\("reconciling"/);
  });

  it("the log panel says 'no access to logs' and stops retrying when the stream is refused (403)", async () => {
    const r = fake.reconcilers.get("default/message");
    assert.ok(r);
    r.canRead = false;
    fake.auth = "token"; // signed in, but may read no reconciler (with auth off, everything is visible)
    fake.signedIn = true;
    await page.goto(fake.url);
    const conn = page.locator("[data-testid=log-connection][data-state=denied]");
    await conn.waitFor();
    assert.match(await conn.innerText(), /no access to logs/);
    const attempts = fake.upgrades;
    await page.waitForTimeout(3000); // backoff would have retried 2-3 times by now
    assert.equal(fake.upgrades, attempts, "no retry storm against a refusal");
    assert.equal(await page.getByTestId("log-connection").getAttribute("data-state"), "denied");
  });

  it("the log stream reconnects after a lost connection and after refusals while the person may read (a restart)", async () => {
    await openEditor(page, fake.url);
    await waitForClients();
    await page.locator("[data-testid=log-connection][data-state=open]").waitFor();
    fake.upgradeStatus = 503; // the operator restarting
    fake.dropClients();
    await page.locator("[data-testid=log-connection][data-state=retrying]").waitFor();
    await eventuallyTrue(() => fake.upgrades >= 2, "refused upgrades are retried");
    assert.equal(await page.getByTestId("log-connection").getAttribute("data-state"), "retrying", "a refusal to someone who may read is not 'no access'");
    fake.upgradeStatus = undefined;
    await page.locator("[data-testid=log-connection][data-state=open]").waitFor({ timeout: 15_000 });
    await waitForClients();
  });

  it("the log panel renders pushed records, filters by level, and shows dropped notices", async () => {
    await openEditor(page, fake.url);
    await waitForClients();
    fake.log({ level: "debug", message: "cache synced" });
    fake.log({ level: "info", message: "reconciling", reconciler: "default/message", resource: "default/demo", source: "user" });
    fake.log({ level: "warn", message: "slow apply", fields: { ms: 900 } });
    fake.log({ level: "error", message: "reconcile failed", reconciler: "default/message" });
    fake.push({ type: "dropped", count: 42 });
    await page.locator("[data-testid=log-row]").nth(3).waitFor();
    assert.equal(await page.getByTestId("log-row").count(), 4);
    await page.getByTestId("log-dropped").waitFor();
    assert.match(await page.getByTestId("log-dropped").innerText(), /42 records dropped/);
    await page.getByTestId("log-level").selectOption("warn");
    await page.waitForFunction(() => true);
    assert.deepEqual(await page.locator("[data-testid=log-row]").evaluateAll((els) => els.map((e) => e.getAttribute("data-level"))), ["warn", "error"]);
    await page.getByTestId("log-level").selectOption("debug");
    await page.getByTestId("log-search").fill("slow");
    assert.equal(await page.getByTestId("log-row").count(), 1);
    await page.getByTestId("log-search").fill("");
    await page.getByTestId("log-clear").click();
    assert.equal(await page.getByTestId("log-row").count(), 0);
  });

  it("the sign-in view appears when auth is token and not signed in; errors are shown", async () => {
    fake.auth = "token";
    await openEditor(page, fake.url, { expect: "sign-in" });
    assert.equal(await page.getByTestId("local-mode").count(), 0);
    await page.getByTestId("sign-in-token").fill("bad-token");
    await page.getByTestId("sign-in-submit").click();
    await page.getByTestId("sign-in-error").waitFor();
    assert.match(await page.getByTestId("sign-in-error").innerText(), /refused/);
    await page.getByTestId("sign-in-token").fill("good-token");
    await page.getByTestId("sign-in-submit").click();
    await page.locator("[data-testid=editor] .cm-content").waitFor();
    assert.match(await page.getByTestId("user").innerText(), /alice/);
  });

  it("greys out saving and rollback without update permission", async () => {
    const r = fake.reconcilers.get("default/message");
    assert.ok(r);
    r.canUpdate = false;
    await openEditor(page, fake.url);
    await page.getByTestId("readonly-note").waitFor();
    assert.equal(await page.getByTestId("save").isDisabled(), true);
    await page.locator("[data-testid=revision][data-revision='1']").click();
    assert.equal(await page.getByTestId("rollback").isDisabled(), true);
  });

  it("3000 pushed log records render without blocking the page", async () => {
    await openEditor(page, fake.url);
    await waitForClients();
    const started = performance.now();
    for (let i = 0; i < 3000; i++) fake.log({ level: (["debug", "info", "warn", "error"] as const)[i % 4] ?? "info", message: `record ${i}`, reconciler: "default/message", resource: `default/r${i % 17}`, fields: { i } });
    await page.waitForFunction(() => {
      const p = document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-log-panel");
      return p?.shadowRoot?.querySelector("[data-testid=log-count]")?.textContent?.startsWith("3000 shown");
    }, undefined, { timeout: 15_000 });
    const rendered = performance.now() - started;
    // How long a frame takes now: the page must still answer promptly.
    const frame = await page.evaluate(() => new Promise<number>((r) => { const t = performance.now(); requestAnimationFrame(() => r(performance.now() - t)); }));
    const rows = await page.getByTestId("log-row").count();
    console.log(`# 3000 log records: all shown after ${rendered.toFixed(0)} ms; next frame in ${frame.toFixed(1)} ms; ${rows} rows in the DOM`);
    assert.ok(rows < 200, `the list is virtual (${rows} rows in the DOM)`);
    await typeAtEnd("// still typing");
    assert.match(await editorText(page), /still typing/);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.locator("[data-file='reconciler.ts']").click();
    await page.locator("[data-testid=revision][data-revision='1']").click();
    await page.screenshot({ path: join(ui, "dist", "screenshot.png") });
  });
});
