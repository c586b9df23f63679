// `chakrator` as users run it: spawned as a process, asserting on stdout, stderr and
// the exit code. No cluster needed (the CLI works offline).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";

const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "operator", "src", "cli.ts");
const tmp = mkdtempSync(join(tmpdir(), "chakrator-cli-"));

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes `name` into its own folder under tmp: the CLI loads sibling `.ts` files as modules. */
function write(name: string, text: string): string {
  const dir = join(tmp, name.replace(/\W/g, "-"));
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const resource = `apiVersion: example.com/v1
kind: MyResource
metadata:
  name: demo
spec:
  message: hi
`;

describe("chakrator CLI", () => {
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("prints the seed sample's children and status as YAML, and its logs on stderr", () => {
    const r = run("test", "samples/01-message/reconciler.ts", "samples/01-message/resource.yaml");
    assert.equal(r.code, 0, r.stderr);
    const doc = parse(r.stdout) as { children: Array<{ kind: string; metadata: { name: string; labels: Record<string, string>; ownerReferences: unknown[] }; data: Record<string, string> }>; status: Record<string, unknown>; requeueAfterSeconds: number };
    assert.equal(doc.children.length, 1);
    assert.equal(doc.children[0]?.kind, "ConfigMap");
    assert.equal(doc.children[0]?.metadata.name, "hello-message");
    assert.deepEqual(doc.children[0]?.data, { message: "hello from chakrator" });
    assert.ok(doc.children[0]?.metadata.labels["chakrator.dev/owner-uid"], "stamped with the owner label, as the engine applies it");
    assert.equal(doc.children[0]?.metadata.ownerReferences.length, 1);
    assert.deepEqual(doc.status, { message: "HELLO FROM CHAKRATOR" });
    assert.equal(doc.requeueAfterSeconds, 300);
    assert.match(r.stderr, /info reconciling \{"name":"hello"\}/);
  });

  it("prints JSON with --json, and takes a folder with its sibling modules", () => {
    const r = run("test", "samples/02-static-website", "samples/02-static-website/resource.yaml", "--json");
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { children: Array<{ kind: string; metadata: { name: string } }>; status: Record<string, unknown> };
    assert.deepEqual(doc.children.map((c) => `${c.kind}/${c.metadata.name}`), ["ConfigMap/hello-site-html", "Deployment/hello-site", "Service/hello-site"]);
    assert.equal(doc.status.replicas, 2);
  });

  it("exits 1 with file:line:col diagnostics when the source does not compile", () => {
    const broken = write("broken.ts", [
      `import type { Reconciler, Resource } from "chakrator";`,
      `interface R extends Resource { spec: { message: string } }`,
      `export default {`,
      `  for: { apiVersion: "example.com/v1", kind: "MyResource" },`,
      `  reconcile(res: R) {`,
      `    const n: number = res.spec.message;`,
      `    return { status: { n } };`,
      `  },`,
      `} satisfies Reconciler<R>;`,
      ``,
    ].join("\n"));
    const r = run("test", broken, write("res.yaml", resource));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:6:11 error TS2322: Type 'string' is not assignable to type 'number'`));
    assert.equal(r.stdout, "");
  });

  it("exits 1 with the error message when the reconcile throws", () => {
    const throwing = write("throwing.ts", [
      `import type { Reconciler, Resource } from "chakrator";`,
      `export default {`,
      `  for: { apiVersion: "example.com/v1", kind: "MyResource" },`,
      `  reconcile(res: Resource) { throw new Error("no good: " + res.metadata.name); },`,
      `} satisfies Reconciler;`,
      ``,
    ].join("\n"));
    const r = run("test", throwing, write("res2.yaml", resource));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no good: demo/);
  });

  it("exits 1 when the resource is not of the reconciler's kind", () => {
    const r = run("test", "samples/01-message", "samples/02-static-website/resource.yaml");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /WrongKind: this reconciler is for example\.com\/v1\/MyResource, not example\.com\/v1\/Website/);
  });

  it("exits 2 with the usage text on usage errors", () => {
    for (const args of [[], ["test"], ["test", "samples/01-message"], ["deploy"], ["test", "nope.ts", "samples/01-message/resource.yaml"], ["test", "samples/01-message", "samples/01-message/resource.yaml", "--bogus"]]) {
      const r = run(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /Usage:\n  chakrator test/);
    }
    const two = write("two.yaml", `${resource}---\n${resource}`);
    const r = run("test", "samples/01-message", two);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /expected one resource, found 2/);
  });

  it("prints help with --help and exits 0", () => {
    const r = run("--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /chakrator test <reconciler\.ts \| dir> <resource\.yaml> \[--json\]/);
    assert.match(r.stdout, /Exit codes: 0 success, 1 compile error, failed reconcile or refused admission, 2 usage error/);
  });

  it("--admission create runs mutate then validate: the patch of the defaults, and the verdict", () => {
    const ok = run("test", "samples/05-admission", "samples/05-admission/resource.yaml", "--admission", "create", "--json");
    assert.equal(ok.code, 0, ok.stderr);
    const doc = JSON.parse(ok.stdout) as { allowed: boolean; mutate: { patch: unknown[]; object: { spec: Record<string, unknown> } }; validate: { allowed: boolean } };
    assert.equal(doc.allowed, true);
    assert.deepEqual(doc.mutate.patch, [{ op: "add", path: "/spec/concurrency", value: 4 }]);
    assert.deepEqual(doc.mutate.object.spec, { replicas: 2, concurrency: 4, queue: "outgoing-mail" });
    const refused = run("test", "samples/05-admission", "samples/05-admission/invalid.yaml", "--admission", "create");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /admission create refused: spec\.queue "Outgoing Mail" must be .*; spec\.replicas must be at most 10, got 50/);
    assert.equal((parse(refused.stdout) as { allowed: boolean }).allowed, false);
  });

  it("--admission update sees the stored object given with --old", () => {
    const old = write("old-worker.yaml", "apiVersion: example.com/v1\nkind: Worker\nmetadata:\n  name: mailer\nspec:\n  queue: other-queue\n");
    const r = run("test", "samples/05-admission", "samples/05-admission/resource.yaml", "--admission", "update", "--old", old);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /spec\.queue cannot change \(it is "other-queue"\)/);
    const same = run("test", "samples/05-admission", "samples/05-admission/resource.yaml", "--admission", "update");
    assert.equal(same.code, 0, same.stderr);
    assert.equal(run("test", "samples/05-admission", "samples/05-admission/resource.yaml", "--admission", "delete").code, 2);
  });
});
