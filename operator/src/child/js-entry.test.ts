// The operator's JavaScript built ahead of time (js-entry.ts), as the image builds and
// runs it: copies keep the original's import.meta paths, a changed source is never run
// from a stale tree, and the whole operator (sandbox host and compiler included) runs
// from the tree on the real control plane with Node's type stripping switched off.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { eventually, freePort, grantNamespace, installCrds, kubeConfig, sampleSource, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { buildTree, jsEntry, OPERATOR_ENTRIES, prebuilt } from "./js-entry.ts";

const REPO = join(import.meta.dirname, "..", "..", "..");
const NO_STRIP = "--no-experimental-strip-types";
const trees: string[] = [];
after(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});
/** A fresh folder for a tree, under node_modules as the image's /app/js is beside /app/node_modules. */
const newTree = () => {
  const dir = join(REPO, "node_modules", `.chakrator-js-test-${process.pid}-${trees.length}`);
  trees.push(dir);
  return dir;
};

describe("the operator's JavaScript ahead of time", () => {
  // Inside the repository, whose layout the tree keeps.
  const src = join(REPO, "node_modules", `.chakrator-js-test-src-${process.pid}`);
  trees.push(src);
  mkdirSync(join(src, "lib"), { recursive: true });
  writeFileSync(join(src, "lib", "where.ts"), `export const where: { url: string; dirname: string; filename: string } = { url: import.meta.url, dirname: import.meta.dirname, filename: import.meta.filename };\n`);
  writeFileSync(join(src, "entry.ts"), [
    `import { where } from "./lib/where.ts";`,
    `import { parse } from "yaml";`,
    `const starter: string = 'import type { Reconciler } from "chakrator";';`,
    `console.log(JSON.stringify({ where, parsed: parse("a: 1"), starter }));`,
  ].join("\n"));

  it("runs a copy with type stripping off; import.meta names the source; strings that look like imports are kept", () => {
    const out = newTree();
    buildTree(out, [join(src, "entry.ts")]);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as { entries: Record<string, { out: string; sources: Record<string, string> }> };
    const entry = Object.values(manifest.entries)[0]!;
    assert.equal(Object.keys(entry.sources).length, 2, "both modules of the graph are in the manifest");
    const printed = JSON.parse(execFileSync(process.execPath, [NO_STRIP, join(out, entry.out)], { encoding: "utf8" })) as Record<string, unknown>;
    const where = join(src, "lib", "where.ts");
    assert.deepEqual(printed, {
      where: { url: pathToFileURL(where).href, dirname: join(src, "lib"), filename: where },
      parsed: { a: 1 },
      starter: 'import type { Reconciler } from "chakrator";',
    });
  });

  it("serves an entry from the tree only while every source of its graph is unchanged", () => {
    const out = newTree();
    buildTree(out, [join(src, "entry.ts")]);
    const fromTree = prebuilt(join(src, "entry.ts"), out);
    assert.ok(fromTree?.startsWith(out), `an unchanged graph is taken from the tree (${fromTree})`);
    assert.equal(prebuilt(join(src, "other.ts"), out), undefined, "an entry the tree does not have");
    assert.equal(prebuilt(join(src, "entry.ts"), undefined), undefined, "no tree");
    const outside = join(mkdtempSync(join(tmpdir(), "js-entry-outside-")), "outside.ts");
    trees.push(dirname(outside));
    writeFileSync(outside, "export const x: number = 1;\n");
    assert.throws(() => buildTree(newTree(), [outside]), /outside the repository/);
    const original = readFileSync(join(src, "lib", "where.ts"), "utf8");
    writeFileSync(join(src, "lib", "where.ts"), `${original}export const changed = true;\n`);
    try {
      assert.equal(prebuilt(join(src, "entry.ts"), out), undefined, "a changed module of the graph makes the tree stale");
      const stripped = jsEntry(join(src, "entry.ts"));
      assert.ok(stripped.endsWith(".mjs") && !stripped.startsWith(out), `the source wins, stripped afresh (${stripped})`);
      assert.match(readFileSync(join(stripped, "..", "lib", "where.mjs"), "utf8"), /changed = true/);
    } finally {
      writeFileSync(join(src, "lib", "where.ts"), original);
    }
  });

  it("the operator, its sandbox host and its compiler run from the tree with type stripping off, and reconcile", async () => {
    // The Containerfile's command, with another folder than /app/js.
    const out = newTree();
    const said = execFileSync(process.execPath, [join(REPO, "operator", "src", "child", "js-entry.ts"), out], { cwd: REPO, encoding: "utf8" });
    assert.match(said, new RegExp(`wrote .*: ${OPERATOR_ENTRIES.length} entries, \\d+ modules`));
    const info = await testCluster();
    await installCrds(info);
    const ns = await testNamespace(info, "jsentry");
    await grantNamespace(info, ns);
    const client = KubeClient.fromKubeConfig(kubeConfig(info));
    const port = await freePort();
    let stderr = "";
    const child = spawn(process.execPath, [join(out, "operator", "src", "main.mjs")], {
      env: {
        ...process.env, NODE_OPTIONS: NO_STRIP, CHAKRATOR_JS_DIR: out, KUBECONFIG: info.kubeconfig, CHAKRATOR_NAMESPACE: ns,
        CHAKRATOR_LISTEN: `127.0.0.1:${port}`, CHAKRATOR_LEADER_ELECTION: "false", CHAKRATOR_WEBHOOK_NAMESPACE: ns, CHAKRATOR_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "message", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("01-message") });
      await client.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "one", namespace: ns }, spec: { message: "from the tree" } });
      await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`the operator exited (${child.exitCode}): ${stderr}`);
        const child1 = await client.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "one-message", ns);
        return child1?.data?.["message"] === "from the tree";
      }, 60_000, "the sample's child ConfigMap");
      // Every process of the tree started from it: none could have run TypeScript.
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      const lines = kids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" "));
      assert.ok(lines.some((l) => l.includes(join(out, "operator", "src", "sandbox", "host.mjs"))), `a sandbox host from the tree: ${lines.join(" | ")}`);
      assert.ok(lines.some((l) => l.includes(join(out, "operator", "src", "reconcilers", "compile-worker.mjs"))), `the compiler from the tree: ${lines.join(" | ")}`);
      assert.doesNotMatch(stderr, /ERR_UNKNOWN_FILE_EXTENSION|strip/i);
      // The webhook's certificate was issued: node-forge, imported dynamically, resolves
      // from the tree (as from /app/js in the image, beside /app/node_modules).
      const secret = await eventually(async () => (await client.get<KubeObject & { data?: Record<string, string> }>("v1", "Secret", "chakrator-webhook-tls", ns))?.data, 30_000, "the webhook certificate Secret");
      assert.match(Buffer.from(secret["tls.crt"] ?? "", "base64").toString(), /BEGIN CERTIFICATE/);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      client.close();
    }
  });
});
