/**
 * Helpers for browser tests of the editor, against the fake server here or the real
 * one (the e2e tests): launch Debian's Chromium through playwright-core, and open the
 * editor until its source is shown. Elements are found by `data-testid` (Playwright's
 * locators pierce the components' open shadow roots).
 */
import { chromium, type Browser, type Page } from "playwright-core";

/** Launches headless Chromium (`CHROMIUM` overrides the path). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update", "--no-first-run"],
  });
}

/**
 * Opens the editor at `url` in `page` and waits until the source is in the editor
 * (or the sign-in form is shown, when `signIn` is expected).
 */
export async function openEditor(page: Page, url: string, opts: { expect?: "editor" | "sign-in"; timeout?: number } = {}): Promise<void> {
  const timeout = opts.timeout ?? 10_000;
  await page.goto(url);
  if (opts.expect === "sign-in") {
    await page.getByTestId("sign-in").waitFor({ timeout });
    return;
  }
  await page.locator("[data-testid=editor] .cm-content").waitFor({ timeout });
  await page.waitForFunction(
    () => {
      const app = document.querySelector("chk-app");
      const ed = app?.shadowRoot?.querySelector("chk-editor");
      const text = ed?.shadowRoot?.querySelector(".cm-content")?.textContent ?? "";
      return text.length > 0;
    },
    undefined,
    { timeout },
  );
}

/** The text of the editor's active file (from CodeMirror's state, not the DOM). */
export function editorText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const ed = document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as (Element & { text?: string }) | null | undefined;
    return ed?.text ?? "";
  });
}
