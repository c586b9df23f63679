// `chakrator` as users run it: spawned as a process, asserting on stdout, stderr and
// the exit code. `test` needs no cluster (the CLI works offline); `rbac` is checked
// offline and against the real control plane.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { installCrds, installTestCrd, kubeConfig, testCluster, testNamespace } from "../testenv/index.ts";
import { KubeClient } from "./kube/client.ts";

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

// `chakrator rbac`: offline it names resources by the plural rule; against the real
// control plane it asks discovery, and the printed YAML, applied for a ServiceAccount,
// allows exactly the verbs the reconciler needs (checked with SubjectAccessReview, what
// `kubectl auth can-i --as` asks, and with kubectl itself).
const rbacTmp = mkdtempSync(join(tmpdir(), "chakrator-rbac-"));

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Doc = { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[]; subjects?: Array<{ name: string; namespace: string }> };

function runRbac(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig", ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as Doc);
/** The grants of a role as "group/resource verb" lines, sorted. */
const grants = (rules: Rule[]) => rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res} ${v}`)))).sort();

/** A reconciler for test.chakrator.dev/v1 RbacPolicy (an irregular plural) owning ConfigMaps, with finalize. */
function policyReconciler(): string {
  const dir = join(rbacTmp, "policy-reconciler");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "reconciler.ts"), `import type { Reconciler, Resource } from "chakrator";
export default {
  for: { apiVersion: "test.chakrator.dev/v1", kind: "RbacPolicy" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: Resource) { return { children: [] }; },
  finalize() { return { done: true }; },
} satisfies Reconciler;
`);
  return dir;
}

describe("chakrator rbac", () => {
  after(() => rmSync(rbacTmp, { recursive: true, force: true }));

  it("prints a ServiceAccount, Role and RoleBinding with exactly the verbs for, owns and finalize need", () => {
    const r = runRbac(["rbac", "samples/03-finalizer", "--no-discovery", "-n", "team-a"]);
    assert.equal(r.code, 0, r.stderr);
    const [sa, role, binding, ...rest] = docs(r.stdout);
    assert.equal(rest.length, 0);
    assert.deepEqual([sa?.kind, role?.kind, binding?.kind], ["ServiceAccount", "Role", "RoleBinding"]);
    assert.deepEqual([sa?.metadata, role?.metadata.namespace], [{ name: "03-finalizer", namespace: "team-a", labels: { "app.kubernetes.io/managed-by": "chakrator-rbac" } }, "team-a"]);
    assert.deepEqual(binding?.subjects, [{ kind: "ServiceAccount", name: "03-finalizer", namespace: "team-a" }]);
    assert.deepEqual(grants(role!.rules!), [
      "/configmaps create", "/configmaps delete", "/configmaps get", "/configmaps list", "/configmaps patch", "/configmaps watch",
      "/events create", "/events patch",
      "example.com/archives get", "example.com/archives list", "example.com/archives patch", "example.com/archives watch",
      "example.com/archives/finalizers update",
      "example.com/archives/status patch", "example.com/archives/status update",
    ].sort());
    // Without finalize there is no patch of the for kind.
    const plain = docs(runRbac(["rbac", "samples/04-error-handling/reconciler.ts", "--no-discovery"]).stdout)[1]!;
    assert.equal(plain.metadata.name, "04-error-handling", "named after the folder of reconciler.ts");
    assert.deepEqual(grants(plain.rules!).filter((g) => g.startsWith("example.com/shortlinks ")), ["example.com/shortlinks get", "example.com/shortlinks list", "example.com/shortlinks watch"]);
    assert.equal(plain.metadata.namespace, "default");
  });

  it("prints a ClusterRole for watch-namespace \"*\", from the flag or from the reconciler ConfigMap's annotations", () => {
    const flag = docs(runRbac(["rbac", "samples/01-message", "--no-discovery", "-n", "team-a", "--watch-namespace", "*", "--service-account", "msg"]).stdout);
    assert.deepEqual(flag.map((d) => d.kind), ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]);
    assert.equal(flag[1]!.metadata.name, "chakrator:team-a:01-message");
    assert.deepEqual(flag[2]!.subjects, [{ kind: "ServiceAccount", name: "msg", namespace: "team-a" }]);
    const cm = join(rbacTmp, "cm.yaml");
    writeFileSync(cm, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: message-reconciler\n  annotations:\n    chakrator.dev/watch-namespace: \"*\"\n");
    assert.deepEqual(docs(runRbac(["rbac", "samples/01-message", "--no-discovery", "--annotations", cm]).stdout).map((d) => d.kind), ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]);
    const other = docs(runRbac(["rbac", "samples/01-message", "--no-discovery", "-n", "team-a", "--watch-namespace", "team-b"]).stdout);
    assert.deepEqual(other.map((d) => `${d.kind}/${d.metadata.namespace}`), ["ServiceAccount/team-a", "Role/team-b", "RoleBinding/team-b"]);
  });

  it("names resources by the plural rule offline, and --plural overrides it", () => {
    const dir = policyReconciler();
    const offline = runRbac(["rbac", dir, "--no-discovery"]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.ok(grants(docs(offline.stdout)[1]!.rules!).includes("test.chakrator.dev/rbacpolicies get"));
    const noCluster = runRbac(["rbac", dir]);
    assert.match(noCluster.stderr, /no reachable kube context; resource names by the plural rule/);
    const over = docs(runRbac(["rbac", dir, "--no-discovery", "--plural", "RbacPolicy=rbacpolicyset"]).stdout)[1]!;
    assert.ok(grants(over.rules!).includes("test.chakrator.dev/rbacpolicyset/status patch"));
  });

  it("exits 1 on a source that does not compile, 2 on usage errors", () => {
    const dir = join(rbacTmp, "broken");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "reconciler.ts"), "export default { for: 42 } satisfies import(\"chakrator\").Reconciler;\n");
    const broken = runRbac(["rbac", dir, "--no-discovery"]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /reconciler\.ts:1:\d+ error TS\d+/);
    for (const args of [["rbac"], ["rbac", "a", "b"], ["rbac", "samples/01-message", "--plural", "nope"], ["rbac", "samples/01-message", "--bogus"], ["rbac", "samples/01-message", "-n"]]) {
      const r = runRbac(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /Usage:/);
    }
  });

  it("on the real control plane: discovery names the resources, and the printed YAML allows exactly what is needed", async () => {
    const info = await testCluster();
    await installCrds(info);
    await installTestCrd(info, "RbacPolicy");
    const ns = await testNamespace(info, "rbac-cli");
    const elsewhere = await testNamespace(info, "rbac-cli-other");
    const dir = policyReconciler();
    const r = runRbac(["rbac", dir, "-n", ns, "--service-account", "policy"], { KUBECONFIG: info.kubeconfig });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`resource names from discovery on ${info.server.replace(/[.]/g, "\\.")}`));
    // testenv's CRD plural is "rbacpolicys": only discovery can know that.
    assert.ok(grants(docs(r.stdout)[1]!.rules!).includes("test.chakrator.dev/rbacpolicys watch"), r.stdout);
    execFileSync("kubectl", ["--kubeconfig", info.kubeconfig, "apply", "-f", "-"], { input: r.stdout, encoding: "utf8" });

    const admin = KubeClient.fromKubeConfig(kubeConfig(info));
    const user = `system:serviceaccount:${ns}:policy`;
    const can = async (group: string, resource: string, verb: string, namespace: string) => {
      const [res, sub] = resource.split("/");
      const review = await admin.request<{ status: { allowed: boolean } }>("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        body: { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user, groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"], resourceAttributes: { group, resource: res, ...(sub ? { subresource: sub } : {}), verb, namespace } } },
      });
      return review.status.allowed;
    };
    const needed = new Set([
      "test.chakrator.dev/rbacpolicys get", "test.chakrator.dev/rbacpolicys list", "test.chakrator.dev/rbacpolicys watch", "test.chakrator.dev/rbacpolicys patch",
      "test.chakrator.dev/rbacpolicys/status patch", "test.chakrator.dev/rbacpolicys/status update", "test.chakrator.dev/rbacpolicys/finalizers update",
      "/configmaps create", "/configmaps delete", "/configmaps get", "/configmaps list", "/configmaps patch", "/configmaps watch",
      "/events create", "/events patch",
    ]);
    const resources = ["test.chakrator.dev/rbacpolicys", "test.chakrator.dev/rbacpolicys/status", "test.chakrator.dev/rbacpolicys/finalizers", "/configmaps", "/events", "/secrets", "/pods", "apps/deployments", "rbac.authorization.k8s.io/roles"];
    const verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
    const wrong: string[] = [];
    for (const gr of resources) {
      const group = gr.slice(0, gr.indexOf("/"));
      const resource = gr.slice(gr.indexOf("/") + 1);
      for (const verb of verbs) {
        const want = needed.has(`${gr} ${verb}`);
        if ((await can(group, resource, verb, ns)) !== want) wrong.push(`${gr} ${verb} in ${ns}: want ${want ? "allowed" : "denied"}`);
        if (await can(group, resource, verb, elsewhere)) wrong.push(`${gr} ${verb} allowed in ${elsewhere}`);
      }
    }
    admin.close();
    assert.deepEqual(wrong, []);
    // The same answer from kubectl, as a person would check it.
    const canI = (...args: string[]) => spawnSync("kubectl", ["--kubeconfig", info.kubeconfig, "auth", "can-i", ...args, `--as=${user}`, "-n", ns], { encoding: "utf8" }).stdout.trim();
    assert.equal(canI("patch", "rbacpolicys.test.chakrator.dev", "--subresource=status"), "yes");
    assert.equal(canI("delete", "configmaps"), "yes");
    assert.equal(canI("update", "configmaps"), "no");
    assert.equal(canI("delete", "rbacpolicys.test.chakrator.dev"), "no");
  });
});
