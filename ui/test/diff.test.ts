/**
 * Browser tests of <chk-diff>, the `@codemirror/merge` diff shared by the revision,
 * conflict and dry-run views, mounted alone on the app's page (its theme variables)
 * in real Chromium: a changed line shows as removed and added, with both line numbers
 * and "−"/"+"; unchanged runs fold and open by click or keyboard; the view is read-only
 * and labelled; identical sets say so.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { launchBrowser } from "./browser.ts";
import { FakeServer } from "./fake-server.ts";

const ui = join(import.meta.dirname, "..");
const dist = join(ui, "dist");

/** "line 1\n" … "line n\n", with `changes` replacing some lines by number. */
function lines(n: number, changes: Record<number, string> = {}): string {
  return Array.from({ length: n }, (_, i) => `${changes[i + 1] ?? `line ${i + 1}`}\n`).join("");
}

describe("chk-diff (@codemirror/merge)", () => {
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
    errors.length = 0;
    context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
  });

  /** Replaces the page's app with one <chk-diff> of the two file sets. */
  async function mount(oldFiles: Record<string, string>, newFiles: Record<string, string>): Promise<Locator> {
    await page.goto(fake.url);
    await page.waitForFunction(() => customElements.get("chk-diff") !== undefined);
    await page.evaluate(({ oldFiles, newFiles }) => {
      const d = document.createElement("chk-diff");
      Object.assign(d, { oldFiles, newFiles, beforeLabel: "old", afterLabel: "new" });
      document.body.replaceChildren(d);
    }, { oldFiles, newFiles });
    const diff = page.getByTestId("diff");
    await diff.waitFor();
    return diff;
  }

  it("shows a changed line as removed then added, with its line numbers, − and +, and the diff colours", async () => {
    const diff = await mount({ "a.ts": lines(20) }, { "a.ts": lines(20, { 10: "line 10 changed" }) });
    const del = diff.getByTestId("diff-del");
    const add = diff.getByTestId("diff-add");
    await del.waitFor();
    assert.deepEqual(await del.allInnerTexts(), ["line 10"]);
    assert.deepEqual(await add.allInnerTexts(), ["line 10 changed"]);
    assert.equal(await diff.locator(".name .st").innerText(), "+1 −1");
    // The removed line comes first, right above the added one.
    const [delBox, addBox] = [await del.boundingBox(), await add.boundingBox()];
    assert.ok(delBox && addBox && delBox.y < addBox.y && addBox.y - delBox.y < delBox.height * 1.5, "removed line directly above the added one");
    // Unchanged context lines are not marked.
    for (const n of [7, 8, 9, 11, 12, 13]) {
      const l = diff.locator(".cm-line", { hasText: new RegExp(`^line ${n}$`) });
      assert.equal(await l.count(), 1, `context line ${n} shown`);
      assert.equal(await l.getAttribute("data-testid"), null);
    }
    // "−"/"+" and both line numbers: removed line 10 of the old text, added line 10 of the new.
    assert.deepEqual(await diff.locator(".chk-diff-op .chk-diff-op-del").allInnerTexts(), ["−"]);
    assert.deepEqual(await diff.locator(".chk-diff-op .chk-diff-op-add").allInnerTexts(), ["+"]);
    assert.deepEqual(await diff.locator(".chk-diff-numbers-a .chk-diff-row-del").allInnerTexts(), ["10"]);
    assert.deepEqual(await diff.locator(".chk-diff-numbers-b .chk-diff-row-add").allInnerTexts(), ["10"]);
    // Coloured with the app's diff colours (index.html's --chk-diff-add / --chk-diff-del).
    assert.equal(await add.evaluate((e) => getComputedStyle(e).backgroundColor), "rgba(152, 195, 121, 0.16)");
    assert.equal(await diff.locator(".cm-deletedChunk").evaluate((e) => getComputedStyle(e).backgroundColor), "rgba(240, 113, 120, 0.16)");
    assert.deepEqual(errors, []);
  });

  it("folds unchanged runs beyond three lines of context; a fold opens by click, and by Enter beside it", async () => {
    const diff = await mount({ "a.ts": lines(30) }, { "a.ts": lines(30, { 15: "line 15 changed" }) });
    const folds = diff.locator(".cm-collapsedLines");
    await diff.getByTestId("diff-add").waitFor();
    // Lines 1–11 and 19–30 (plus the final empty line) fold; 12–14 and 16–18 stay.
    assert.deepEqual(await folds.allInnerTexts(), ["11 unchanged lines (click or Enter to show)", "13 unchanged lines (click or Enter to show)"]);
    assert.equal(await diff.locator(".cm-line", { hasText: /^line 1$/ }).count(), 0);
    assert.equal(await diff.locator(".cm-line", { hasText: /^line 12$/ }).count(), 1);

    await folds.last().click();
    await diff.locator(".cm-line", { hasText: /^line 30$/ }).waitFor();
    assert.equal(await folds.count(), 1);

    // Keyboard: into the text, to its start (just before the first fold), Enter.
    await diff.locator(".cm-content").focus();
    await page.keyboard.press("Control+Home");
    await page.keyboard.press("Enter");
    await diff.locator(".cm-line", { hasText: /^line 1$/ }).waitFor();
    assert.equal(await folds.count(), 0);
    assert.deepEqual(errors, []);
  });

  it("is read-only and labelled: typing changes nothing; the text says which file and sides it compares", async () => {
    const diff = await mount({ "a.ts": lines(5) }, { "a.ts": lines(5, { 3: "three" }) });
    const content = diff.locator(".cm-content");
    await content.waitFor();
    assert.equal(await content.getAttribute("aria-label"), "a.ts: changes from old to new");
    assert.equal(await content.getAttribute("aria-readonly"), "true");
    await content.focus();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("typed");
    await page.keyboard.press("Enter");
    assert.doesNotMatch(await content.innerText(), /typed/);
    assert.deepEqual(await diff.getByTestId("diff-add").allInnerTexts(), ["three"]);
    assert.deepEqual(errors, []);
  });

  it("shows one view per changed file, sorted by name; identical files are left out, and all-identical says so", async () => {
    let diff = await mount({ "b.json": "{}\n", "a.ts": "x\n", "same": "1\n" }, { "b.json": '{ "k": 1 }\n', "c.ts": "new\n", "same": "1\n" });
    await diff.getByTestId("diff-add").first().waitFor();
    assert.deepEqual(await diff.locator(".name > span:first-child").allInnerTexts(), ["a.ts", "b.json", "c.ts"]);
    assert.equal(await diff.locator(".cm-editor").count(), 3);
    assert.deepEqual(await diff.getByTestId("diff-identical").count(), 0);

    diff = await mount({ x: "same\n" }, { x: "same\n" });
    await diff.getByTestId("diff-identical").waitFor();
    assert.equal(await diff.locator(".cm-editor").count(), 0);
    assert.deepEqual(errors, []);
  });
});
