/**
 * IntelliSense and format end to end: real control plane, real operator (its compiler
 * process with the cluster's kind typings), real server, real Chromium.
 * - `res.spec.` offers `message` and `replicas` with their types;
 * - hovering `ctx.get` shows its signature, and `ctx.get(` opens signature help;
 * - a misspelt Deployment field is underlined with the server's message;
 * - format document changes the text as TypeScript's formatter does;
 * - saving a source with trailing spaces from the editor leaves
 *   `kubectl get configmap -o yaml` showing a `|` block;
 * - completion round trip from the browser, printed (no timed assertion).
 * The UI is bundled from the current source into a temporary folder, so this file never
 * rewrites ui/dist while other tests serve it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import ts from "typescript";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../../operator/testenv/index.ts";
import { KubeClient, type KubeObject } from "../../operator/src/kube/client.ts";
import { Operator } from "../../operator/src/operator.ts";
import { startServer, type RunningServer } from "../../operator/src/server/index.ts";
import { FORMAT_SETTINGS } from "../../operator/src/reconcilers/language-service.ts";
import { LogBus } from "../../operator/src/telemetry/log.ts";
import { editorText, launchBrowser, openEditor } from "./browser.ts";

const ui = join(import.meta.dirname, "..");
const SLOW = 30_000;
const NAME = "typed";
type ConfigMap = KubeObject & { data?: Record<string, string> };

describe("IntelliSense in the editor (real stack, Chromium)", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let ns: string;
  let op: Operator;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let dist: string;
  const seed = sampleSource("01-message");
  const pageErrors: string[] = [];

  const content = () => page.locator("[data-testid=editor] .cm-content");
  async function setEditorText(text: string): Promise<void> {
    await content().click();
    await page.keyboard.press("Control+a");
    await page.keyboard.insertText(text);
    await page.waitForFunction((t) => (document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as { text?: string } | null)?.text === t, text, { timeout: 5_000 });
  }
  /** Puts the cursor right after the first `needle` (plus `offset`). */
  async function cursorAfter(needle: string, offset = needle.length): Promise<void> {
    const pos = (await editorText(page)).indexOf(needle) + offset;
    assert.ok(pos >= offset, `the text has ${needle}`);
    await page.evaluate((p) => {
      const ed = document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as unknown as { view: { dispatch(t: unknown): void; focus(): void } };
      ed.view.dispatch({ selection: { anchor: p } });
      ed.view.focus();
    }, pos);
  }

  before(async () => {
    dist = mkdtempSync(join(tmpdir(), "chakrator-ui-"));
    const bundled = await build({ entryPoints: [join(ui, "src", "main.ts")], outfile: join(dist, "app.js"), bundle: true, format: "esm", target: "es2022", tsconfig: join(ui, "tsconfig.json"), logLevel: "warning" });
    assert.equal(bundled.errors.length, 0);
    writeFileSync(join(dist, "index.html"), readFileSync(join(ui, "src", "index.html")));
    info = await testCluster();
    await installCrds(info);
    ns = await testNamespace(info, "intellisense");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await client.create<ConfigMap>({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: NAME, namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: seed });
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: new LogBus({ stdout: false }), sandbox: { timeoutMs: 5_000, poolSize: 1 } });
    await eventually(() => op.sources.state(`${ns}/${NAME}`)?.active?.number === 1, SLOW, "revision 1");
    server = await startServer({ operator: op, auth: "off", uiDir: dist }, { host: "127.0.0.1", port: 0 });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await openEditor(page, `${server.url}/#${encodeURIComponent(`${ns}/${NAME}`)}`, { timeout: SLOW });
    await page.waitForFunction((src) => (document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as { text?: string } | null)?.text === src, seed["reconciler.ts"], { timeout: SLOW });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await op?.stop(2_000);
    client?.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it("res.spec. offers message and replicas with their types", async () => {
    await setEditorText(seed["reconciler.ts"]!.replace("res.spec.message.toUpperCase()", "res.spec.message"));
    await cursorAfter("res.spec.message", "res.spec.".length);
    await page.keyboard.press("Control+Space");
    const options = page.locator(".cm-tooltip-autocomplete li");
    await options.first().waitFor({ timeout: SLOW });
    const rows = await options.allInnerTexts();
    const message = rows.find((r) => r.startsWith("message"));
    const replicas = rows.find((r) => r.startsWith("replicas"));
    assert.ok(message && replicas, rows.join(" | "));
    assert.match(message, /: string/);
    assert.match(replicas, /: number/);
    await page.keyboard.press("Escape");
  });

  it("hover over ctx.get shows its signature; inside ctx.get( the signature help", async () => {
    await setEditorText(seed["reconciler.ts"]!.replace('ctx.log.info("reconciling"', 'void ctx.get; ctx.log.info("reconciling"'));
    const text = await editorText(page);
    const pos = text.indexOf("ctx.get") + 5;
    const coords = await page.evaluate((p) => {
      const ed = document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as unknown as { view: { coordsAtPos(p: number): { left: number; top: number; bottom: number } | null } };
      return ed.view.coordsAtPos(p);
    }, pos);
    assert.ok(coords);
    await page.mouse.move(coords.left + 2, (coords.top + coords.bottom) / 2);
    const hover = page.getByTestId("hover");
    await hover.waitFor({ timeout: SLOW });
    assert.match(await hover.innerText(), /\(method\) Context\.get<T extends Resource = Resource>\(kind: KindRef, name: string, namespace\?: string\): Promise<T \| undefined>/);
    assert.match(await hover.innerText(), /Reads one object of the `for` kind/);
    await page.mouse.move(5, 5);

    await cursorAfter("void ctx.get", "void ctx.get".length);
    await page.keyboard.type("(");
    const sig = page.getByTestId("signature-help");
    await sig.waitFor({ timeout: SLOW });
    assert.match(await sig.innerText(), /get\(kind: KindRef, name: string, namespace\?: string\)/);
    await page.keyboard.press("Escape");
  });

  it("underlines a misspelt Deployment field with the server's message", async () => {
    const text = `import type { Reconciler } from "chakrator";

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }, { apiVersion: "apps/v1", kind: "Deployment" }],
  reconcile(res) {
    const labels = { app: res.metadata.name };
    return {
      children: [{
        apiVersion: "apps/v1", kind: "Deployment", metadata: { name: res.metadata.name },
        spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { contaners: [{ name: "web", image: "nginx" }] } } },
      }],
    };
  },
} satisfies Reconciler;
`;
    await setEditorText(text);
    const mark = page.locator(".cm-lintRange-error", { hasText: "contaners" });
    await mark.waitFor({ timeout: SLOW });
    await mark.hover();
    const tip = page.locator(".cm-tooltip-lint");
    await tip.waitFor({ timeout: SLOW });
    assert.match(await tip.innerText(), /'contaners' does not exist in type 'PodSpec'\. Did you mean to write 'containers'\?/);
  });

  it("format document changes the text as TypeScript's formatter does", async () => {
    const messy = seed["reconciler.ts"]!.replace("status: { message: res.spec.message.toUpperCase() },", "status: {message:res.spec.message.toUpperCase()},").replace("return {", "return{");
    await setEditorText(messy);
    await page.getByTestId("format").click();
    await page.waitForFunction((t) => (document.querySelector("chk-app")?.shadowRoot?.querySelector("chk-editor") as { text?: string } | null)?.text !== t, messy, { timeout: SLOW });
    // What TypeScript's own formatter makes of it, with the editor's settings.
    const expected = formatWithTypeScript(messy);
    assert.notEqual(expected, messy);
    assert.equal(await editorText(page), expected);
  });

  it("a save from the editor strips trailing spaces: kubectl get -o yaml shows a | block", async () => {
    const spacey = seed["reconciler.ts"]!.replace("\n", "   \n").replace(/;\n/g, ";  \n");
    assert.match(spacey, / +\n/);
    await setEditorText(spacey);
    await page.keyboard.press("Control+s");
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor({ timeout: SLOW });
    const cm = await client.get<ConfigMap>("v1", "ConfigMap", NAME, ns);
    assert.doesNotMatch(cm?.data?.["reconciler.ts"] ?? "", /[ \t]+\n/);
    const yaml = spawnSync("kubectl", ["--kubeconfig", info.kubeconfig, "-n", ns, "get", "configmap", NAME, "-o", "yaml"], { encoding: "utf8" });
    assert.equal(yaml.status, 0, yaml.stderr);
    assert.match(yaml.stdout, /^ {2}reconciler\.ts: \|-?$/m, yaml.stdout.slice(0, 400));
    // The editor shows what was saved, and the strip is one undoable step.
    assert.equal(await editorText(page), cm?.data?.["reconciler.ts"]);
  });

  it("formats on save when asked to: the ConfigMap gets TypeScript's formatting", async () => {
    const messy = seed["reconciler.ts"]!.replace("status: { message: res.spec.message.toUpperCase() },", "status: {message:res.spec.message.toUpperCase()},");
    await page.getByTestId("format-on-save").check();
    await setEditorText(messy);
    await page.keyboard.press("Control+s");
    await page.locator("[data-testid=save-state][data-state=saved]").waitFor({ timeout: SLOW });
    const cm = await client.get<ConfigMap>("v1", "ConfigMap", NAME, ns);
    assert.equal(cm?.data?.["reconciler.ts"], formatWithTypeScript(messy));
    await page.getByTestId("format-on-save").uncheck();
  });

  it("F12 on a contract type peeks at its definition, read-only", async () => {
    await setEditorText(seed["reconciler.ts"]!);
    await cursorAfter("Reconciler<", 3);
    await page.keyboard.press("F12");
    const peek = page.getByTestId("definition-peek");
    await peek.waitFor({ timeout: SLOW });
    assert.match(await peek.innerText(), /^chakrator:\d+ \(read-only\)/);
    assert.match(await peek.innerText(), /export interface Reconciler</);
    await page.keyboard.press("ArrowRight"); // moving the cursor closes it
    await peek.waitFor({ state: "detached", timeout: SLOW });
  });

  it("falls back to the static contract list when the language service cannot answer", async () => {
    await page.route("**/api/intellisense/**", (route) => route.abort());
    try {
      await setEditorText(seed["reconciler.ts"]!.replace('ctx.log.info("reconciling"', 'ctx.now(); ctx.log.info("reconciling"'));
      await cursorAfter("ctx.now", 4);
      await page.keyboard.press("Control+Space");
      const options = page.locator(".cm-tooltip-autocomplete li");
      await options.first().waitFor({ timeout: SLOW });
      const rows = await options.allInnerTexts();
      // The static list's own details (completions.ts), not the service's types.
      assert.ok(rows.some((r) => r.startsWith("get") && r.includes("(kind, name, namespace?) => Promise<T | undefined>")), rows.join(" | "));
      await page.keyboard.press("Escape");
    } finally {
      await page.unroute("**/api/intellisense/**");
    }
  });

  it("measures the completion round trip from the browser (printed)", async () => {
    const text = seed["reconciler.ts"]!.replace("res.spec.message.toUpperCase()", "res.spec.");
    const pos = text.indexOf("res.spec.") + "res.spec.".length;
    const samples = await page.evaluate(async ({ text, pos, ns, name }) => {
      const out: number[] = [];
      for (let i = 0; i < 40; i++) {
        const t = performance.now();
        const r = await fetch("api/intellisense/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reconciler: { namespace: ns, name }, files: { "reconciler.ts": `${text}\n// ${i}` }, file: "reconciler.ts", pos }) });
        await r.json();
        out.push(performance.now() - t);
      }
      return out;
    }, { text, pos, ns, name: NAME });
    const s = samples.slice(5).sort((a, b) => a - b);
    console.log(`completion round trip from the browser (res.spec., warm): p50 ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, p95 ${s[Math.floor(s.length * 0.95)]!.toFixed(1)} ms (n=${s.length})`);
    assert.equal(s.length, 35);
    assert.deepEqual(pageErrors, []);
  });
});

/** TypeScript's formatter over `text`, with the settings the operator uses. */
function formatWithTypeScript(text: string): string {
  const files = new Map([["/a.ts", text]]);
  const host: ts.LanguageServiceHost = {
    getCompilationSettings: () => ({ noLib: true }),
    getScriptFileNames: () => ["/a.ts"],
    getScriptVersion: () => "1",
    getScriptSnapshot: (f) => (files.has(f) ? ts.ScriptSnapshot.fromString(files.get(f)!) : undefined),
    getCurrentDirectory: () => "/",
    getDefaultLibFileName: () => "/lib.d.ts",
    fileExists: (f) => files.has(f),
    readFile: (f) => files.get(f),
  };
  const edits = ts.createLanguageService(host).getFormattingEditsForDocument("/a.ts", FORMAT_SETTINGS);
  let out = text;
  for (const e of [...edits].sort((a, b) => b.span.start - a.span.start)) out = out.slice(0, e.span.start) + e.newText + out.slice(e.span.start + e.span.length);
  return out;
}
