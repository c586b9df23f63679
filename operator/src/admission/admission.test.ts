// Admission end to end: the real kube-apiserver calls the operator's webhook, and
// `kubectl apply` shows what a person sees. One reconciler ConfigMap, edited revision
// by revision; the webhook configurations are cluster-wide, so the kind is this file's own.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { eventually, installTestCrd, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { runOperator, type RunningOperator } from "../lifecycle.ts";
import { LogBus } from "../telemetry/log.ts";
import { configurationName } from "./index.ts";

const KIND = "Guarded";
const samples = join(import.meta.dirname, "..", "..", "..", "samples", "05-admission");
const API = "test.chakrator.dev/v1";

/** A reconciler with `validate` (limit on spec.replicas) and/or `mutate` (default spec.tier). */
function source(o: { limit?: number; validate?: boolean; mutate?: boolean; loopAt?: number; protect?: boolean }): Record<string, string> {
  const validate = o.validate === false ? "" : `
  validate(obj: G, ctx, request) {
    ${o.protect ? `if (request.operation === "DELETE") return obj.metadata.labels?.["protected"] === "true" ? { allowed: false, message: \`\${obj.metadata.name} is protected: remove its label first\` } : { allowed: true };` : ""}
    ${o.loopAt !== undefined ? `if (obj.spec.replicas === ${o.loopAt}) for (;;) {}` : ""}
    return obj.spec.replicas <= ${o.limit ?? 10} ? { allowed: true } : { allowed: false, message: \`spec.replicas must be ≤ ${o.limit ?? 10}, got \${obj.spec.replicas}\` };
  },`;
  const mutate = o.mutate === false ? "" : `
  mutate(obj: G) {
    return { ...obj, spec: { ...obj.spec, tier: obj.spec.tier ?? "standard" } };
  },`;
  return {
    "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
interface G extends Resource { spec: { replicas: number; tier?: string } }
export default {
  for: { apiVersion: "${API}", kind: "${KIND}" },
  reconcile(res: G) { return { status: { tier: res.spec.tier ?? "none" } }; },${validate}${mutate}
} satisfies Reconciler<G>;
`,
  };
}

interface Run { code: number | null; stdout: string; stderr: string }

/** kubectl as a child process (asynchronously: the webhook answers from this process). */
function kubectl(info: ControlPlaneInfo, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn("kubectl", ["--kubeconfig", info.kubeconfig, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

const manifest = (ns: string, name: string, replicas: number) => JSON.stringify({ apiVersion: API, kind: KIND, metadata: { name, namespace: ns }, spec: { replicas } });

describe("admission webhooks from validate and mutate", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let ns: string;
  let run: RunningOperator;
  let key: string;

  const apply = (name: string, replicas: number, ...extra: string[]) => kubectl(info, ["apply", "-f", "-", ...extra], manifest(ns, name, replicas));
  const setSource = async (data: Record<string, string>, annotations?: Record<string, string>) => {
    const before = run.admission?.revision(key)?.number ?? 0;
    await client.patch("v1", "ConfigMap", "guard", ns, { data, ...(annotations ? { metadata: { annotations } } : {}) });
    await eventually(() => (run.operator.sources.state(key)?.active?.number ?? 0) > before && run.operator.sources.state(key)?.active?.number, 30_000, "the new revision accepted");
  };
  const configuration = (kind: "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration") =>
    client.get("admissionregistration.k8s.io/v1", kind, configurationName(key));

  before(async () => {
    info = await testCluster();
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await installTestCrd(info, KIND);
    await client.apply(parse(readFileSync(join(samples, "crd.yaml"), "utf8")) as KubeObject, { fieldManager: "chakrator-tests", force: true });
    await eventually(() => client.resource("example.com/v1", "Worker").then(() => true, () => false), 20_000, "the Worker CRD served");
    ns = await testNamespace(info, "admission");
    key = `${ns}/guard`;
    await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "worker-reconciler", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource("05-admission") });
    await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "guard", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: source({}) });
    run = await runOperator({
      kubeConfig: kubeConfig(info), log: new LogBus({ stdout: false }), namespace: ns, listen: { host: "127.0.0.1", port: 0 }, auth: "off",
      handleSignals: false, workers: 2, sandbox: { poolSize: 1 },
      admission: { listen: { host: "127.0.0.1", port: 0 }, namespace: ns, instance: ns, refreshMs: 1000 },
    });
    assert.ok(run.admission, "admission started");
    await eventually(() => run.admission?.target(key), 30_000, "the admission target");
    // The API server loads webhook configurations through its own watch: wait until it calls ours.
    await eventually(async () => (await apply("probe", 99, "--dry-run=server")).stderr.includes("denied the request"), 30_000, "the webhook in use");
  });

  after(async () => {
    await run?.shutdown();
    for (const kind of ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]) {
      for (const reconciler of [key, `${ns}/worker-reconciler`]) await client.delete("admissionregistration.k8s.io/v1", kind, configurationName(reconciler)).catch(() => {});
    }
    client?.close();
  });

  it("keeps one configuration of each kind for the reconciler's kind, in its namespace only", async () => {
    const validating = (await configuration("ValidatingWebhookConfiguration")) as KubeObject & { webhooks: Array<Record<string, unknown>> };
    const webhook = validating.webhooks[0]!;
    assert.deepEqual(webhook["rules"], [{ apiGroups: ["test.chakrator.dev"], apiVersions: ["v1"], resources: ["guardeds"], operations: ["CREATE", "UPDATE"], scope: "Namespaced" }]);
    assert.deepEqual(webhook["namespaceSelector"], { matchLabels: { "kubernetes.io/metadata.name": ns } });
    assert.equal(webhook["failurePolicy"], "Fail");
    assert.equal(webhook["timeoutSeconds"], 3);
    assert.ok(await configuration("MutatingWebhookConfiguration"));
  });

  it("kubectl apply of an invalid object is refused with the reconciler's message", async () => {
    const r = await apply("big", 11);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /admission webhook "guard\..*\.validate\.chakrator\.dev" denied the request: spec\.replicas must be ≤ 10, got 11/);
    assert.equal(await client.get(API, KIND, "big", ns), undefined);
  });

  it("a valid object is admitted with the defaults mutate filled in", async () => {
    const r = await apply("small", 2);
    assert.equal(r.code, 0, r.stderr);
    const stored = (await client.get(API, KIND, "small", ns)) as KubeObject & { spec: { replicas: number; tier?: string } };
    assert.deepEqual(stored.spec, { replicas: 2, tier: "standard" });
  });

  it("kubectl apply --dry-run=server behaves the same and stores nothing", async () => {
    const refused = await apply("dry-big", 12, "--dry-run=server");
    assert.match(refused.stderr, /denied the request: spec\.replicas must be ≤ 10, got 12/);
    const admitted = await apply("dry-small", 3, "--dry-run=server", "-o", "json");
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.equal((JSON.parse(admitted.stdout) as { spec: { tier?: string } }).spec.tier, "standard");
    assert.equal(await client.get(API, KIND, "dry-small", ns), undefined);
  });

  it("a new revision that changes the rule takes effect on the next request", async () => {
    await setSource(source({ limit: 5 }));
    const r = await apply("seven", 7);
    assert.match(r.stderr, /denied the request: spec\.replicas must be ≤ 5, got 7/);
  });

  it("a validate that loops forever is denied within its limit, naming the revision, with an Event and a metric", async () => {
    await setSource(source({ limit: 5, loopAt: 4 }));
    const number = run.operator.sources.state(key)?.active?.number;
    const r = await apply("loop", 4);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${key} revision ${number}: validate did not finish within 1000 ms`));
    assert.doesNotMatch(r.stderr, /context deadline exceeded|timeout/i, "the API server's own timeout was not reached");
    const event = await eventually(async () => {
      const list = await client.request<{ items: Array<KubeObject & { type?: string; reason?: string; message?: string; involvedObject?: { name?: string } }> }>("GET", `/api/v1/namespaces/${ns}/events`);
      return list.items.find((e) => e.reason === "AdmissionFailed" && e.involvedObject?.name === "guard");
    }, 15_000, "the AdmissionFailed Event");
    assert.equal(event.type, "Warning");
    assert.match(event.message ?? "", /validate did not finish within 1000 ms/);
    const metrics = await (await fetch(`${run.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`chakrator_admission_requests_total\\{reconciler="${key}",method="validate",outcome="failed-denied"\\} [1-9]`));
    assert.match(metrics, /chakrator_admission_duration_seconds_count\{reconciler="[^"]+",method="mutate"\} [1-9]/);
  });

  it("with failurePolicy Ignore, a failing validate lets the request through with a warning", async () => {
    await client.patch("v1", "ConfigMap", "guard", ns, { metadata: { annotations: { "chakrator.dev/admission-failure-policy": "Ignore" } } });
    await eventually(async () => ((await configuration("ValidatingWebhookConfiguration")) as unknown as { webhooks: Array<{ failurePolicy: string }> }).webhooks[0]!.failurePolicy === "Ignore", 15_000, "policy Ignore written");
    const r = await apply("loop-ignored", 4);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Warning: validate failed and failurePolicy is Ignore/);
    await client.patch("v1", "ConfigMap", "guard", ns, { metadata: { annotations: { "chakrator.dev/admission-failure-policy": null } } });
    await eventually(async () => ((await configuration("ValidatingWebhookConfiguration")) as unknown as { webhooks: Array<{ failurePolicy: string }> }).webhooks[0]!.failurePolicy === "Fail", 15_000, "policy Fail again");
  });

  it("a revision without validate removes the ValidatingWebhookConfiguration and keeps the mutating one", async () => {
    await setSource(source({ validate: false }));
    await eventually(async () => (await configuration("ValidatingWebhookConfiguration")) === undefined, 15_000, "the validating configuration deleted");
    assert.ok(await configuration("MutatingWebhookConfiguration"));
    await eventually(async () => (await apply("huge", 50)).code === 0, 15_000, "no validation any more");
    assert.equal(((await client.get(API, KIND, "huge", ns)) as KubeObject & { spec: { tier?: string } }).spec.tier, "standard");
  });

  it("samples/05-admission: the invalid Worker is refused with every problem, the valid one is stored with its defaults and reconciled", async () => {
    const file = (name: string) => join(samples, name);
    await eventually(async () => (await kubectl(info, ["-n", ns, "apply", "--dry-run=server", "-f", file("invalid.yaml")])).stderr.includes("denied the request"), 30_000, "the sample's webhook in use");
    const refused = await kubectl(info, ["-n", ns, "apply", "-f", file("invalid.yaml")]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /denied the request: spec\.queue "Outgoing Mail" must be lowercase letters, digits and dashes; spec\.replicas must be at most 10, got 50/);
    const admitted = await kubectl(info, ["-n", ns, "apply", "-f", file("resource.yaml")]);
    assert.equal(admitted.code, 0, admitted.stderr);
    const worker = (await client.get("example.com/v1", "Worker", "mailer", ns)) as KubeObject & { spec: Record<string, unknown> };
    assert.deepEqual(worker.spec, { queue: "outgoing-mail", replicas: 2, concurrency: 4 });
    const status = await eventually(async () => ((await client.get("example.com/v1", "Worker", "mailer", ns)) as KubeObject & { status?: { capacity?: number } }).status?.capacity, 20_000, "the Worker reconciled");
    assert.equal(status, 8);
    const moved = await kubectl(info, ["-n", ns, "patch", "worker", "mailer", "--type=merge", "-p", JSON.stringify({ spec: { queue: "elsewhere" } })]);
    assert.match(moved.stderr, /spec\.queue cannot change \(it is "outgoing-mail"\)/);
  });

  it("validate sees DELETE only with chakrator.dev/admission-validate-delete: kubectl delete of a protected object is then refused", async () => {
    const protectedObject = (name: string) => JSON.stringify({ apiVersion: API, kind: KIND, metadata: { name, namespace: ns, labels: { protected: "true" } }, spec: { replicas: 1 } });
    const rules = async () => ((await configuration("ValidatingWebhookConfiguration")) as unknown as { webhooks: Array<{ rules: Array<{ operations: string[] }> }> } | undefined)?.webhooks[0]?.rules[0]?.operations;
    await setSource(source({ protect: true }));
    await eventually(async () => (await rules())?.join() === "CREATE,UPDATE", 15_000, "validate back, without DELETE");
    assert.equal((await kubectl(info, ["apply", "-f", "-"], protectedObject("p1"))).code, 0);
    const unchecked = await kubectl(info, ["-n", ns, "delete", KIND.toLowerCase() + "s.test.chakrator.dev", "p1"]);
    assert.equal(unchecked.code, 0, `by default DELETE is not validated: ${unchecked.stderr}`);

    await client.patch("v1", "ConfigMap", "guard", ns, { metadata: { annotations: { "chakrator.dev/admission-validate-delete": "true" } } });
    await eventually(async () => (await rules())?.join() === "CREATE,UPDATE,DELETE", 15_000, "DELETE in the validating rules");
    assert.equal((await kubectl(info, ["apply", "-f", "-"], protectedObject("p2"))).code, 0);
    const refused = await eventually(async () => {
      const r = await kubectl(info, ["-n", ns, "delete", KIND.toLowerCase() + "s.test.chakrator.dev", "p2"]);
      return r.code !== 0 ? r : undefined;
    }, 15_000, "the API server calls the webhook on DELETE");
    assert.match(refused.stderr, /denied the request: p2 is protected: remove its label first/);
    assert.ok(await client.get(API, KIND, "p2", ns), "still there");
    assert.equal((await kubectl(info, ["-n", ns, "label", KIND.toLowerCase() + "s.test.chakrator.dev", "p2", "protected-"])).code, 0);
    assert.equal((await kubectl(info, ["-n", ns, "delete", KIND.toLowerCase() + "s.test.chakrator.dev", "p2"])).code, 0);
    await client.patch("v1", "ConfigMap", "guard", ns, { metadata: { annotations: { "chakrator.dev/admission-validate-delete": null } } });
    await eventually(async () => (await rules())?.join() === "CREATE,UPDATE", 15_000, "DELETE off again");
  });

  it("with the operator stopped, failurePolicy Fail refuses the kind's writes", async () => {
    await setSource(source({}));
    await eventually(async () => (await apply("probe", 99, "--dry-run=server")).stderr.includes("denied the request"), 15_000, "validate back");
    await run.shutdown();
    const r = await apply("while-down", 1);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /failed calling webhook "guard\..*\.chakrator\.dev"/);
    // Other kinds are not affected.
    const other = await kubectl(info, ["-n", ns, "create", "configmap", "unaffected"]);
    assert.equal(other.code, 0, other.stderr);
  });
});
