/**
 * What tests use to reach the real control plane.
 *
 * `npm test` (run-tests.ts) starts one control plane for the whole run and hands its
 * facts to every test process in `CHAKRATOR_TEST_CLUSTER`, so the suite pays the
 * start-up once. A test file run on its own (`node --test some.test.ts`) starts a
 * private control plane instead, stopped when that process exits.
 *
 * Tests share the cluster, so each takes its own namespace (`testNamespace`).
 */
import * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ControlPlane, type ControlPlaneInfo } from "./controlplane.ts";
import { KubeClient, type KubeObject } from "../src/kube/client.ts";

export { ControlPlane, ControlPlaneError, freePort, type ControlPlaneInfo } from "./controlplane.ts";

/** Environment variable carrying the shared control plane's `ControlPlaneInfo` as JSON. */
export const clusterEnv = "CHAKRATOR_TEST_CLUSTER";

let own: Promise<ControlPlaneInfo> | undefined;

/** The shared control plane, or a private one started on first use. */
export function testCluster(): Promise<ControlPlaneInfo> {
  const shared = process.env[clusterEnv];
  if (shared) return Promise.resolve(JSON.parse(shared) as ControlPlaneInfo);
  own ??= ControlPlane.start().then((cp) => {
    // node:test runs the file's tests, then lets the process end: stop on the way out.
    process.once("beforeExit", () => void cp.stop());
    return cp.info;
  });
  return own;
}

/** A KubeConfig for the admin, or for `token` when given (e.g. the unprivileged user's). */
export function kubeConfig(info: ControlPlaneInfo, token?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  if (token !== undefined) {
    kc.loadFromOptions({
      clusters: kc.getClusters(),
      users: [{ name: "token-user", token }],
      contexts: [{ name: "token", cluster: kc.getClusters()[0]!.name, user: "token-user" }],
      currentContext: "token",
    });
  }
  return kc;
}

/** Creates a fresh namespace named `<prefix>-<random>` and returns its name. */
export async function testNamespace(info: ControlPlaneInfo, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`.toLowerCase().slice(0, 63);
  const core = kubeConfig(info).makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

/**
 * The files of a reconciler ConfigMap for `kind` that owns ConfigMaps and whose async
 * reconcile body is `body` (`res` and `ctx` in scope); `extra` goes at module level.
 */
export function reconcilerSource(kind: { apiVersion: string; kind: string }, body: string, extra = ""): Record<string, string> {
  return {
    "reconciler.ts": `import type { Reconciler, Resource } from "chakrator";
${extra}
export default {
  for: { apiVersion: "${kind.apiVersion}", kind: "${kind.kind}" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  async reconcile(res: Resource, ctx) {
${body}
  },
} satisfies Reconciler;
`,
  };
}

/**
 * Creates reconciler ConfigMap `namespace/name` with `data` and exactly `annotations`,
 * or replaces the one that exists (as `kubectl edit` would): each call is one edit.
 */
export async function putReconciler(client: KubeClient, namespace: string, name: string, data: Record<string, string>, annotations: Record<string, string> = {}): Promise<void> {
  const existing = await client.get("v1", "ConfigMap", name, namespace);
  if (existing) await client.replace({ ...existing, metadata: { ...existing.metadata, annotations }, data });
  else await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace, labels: { "chakrator.dev/reconciler": "true" }, annotations }, data });
}

/**
 * Lets ServiceAccount `serviceAccount` of `namespace` do anything in that namespace and
 * nothing elsewhere (a RoleBinding to cluster-admin): for tests whose reconcilers act as
 * their ServiceAccount (impersonation) but are not about RBAC. No controller manager
 * runs here, so the ServiceAccount object itself need not exist: RBAC binds the name.
 */
export async function grantNamespace(info: ControlPlaneInfo, namespace: string, serviceAccount = "default"): Promise<void> {
  const client = KubeClient.fromKubeConfig(kubeConfig(info));
  try {
    await client.apply({
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
      metadata: { name: `test-${serviceAccount}-admin`, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
    } as KubeObject, { fieldManager: "chakrator-tests", force: true });
  } finally {
    client.close();
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err: unknown) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads a sample's files (`samples/<dir>/*.ts`) as reconciler ConfigMap data. */
export function sampleSource(dir: string): Record<string, string> {
  const base = join(import.meta.dirname, "..", "..", "samples", dir);
  const data: Record<string, string> = {};
  for (const f of readdirSync(base)) if (f.endsWith(".ts") && !f.endsWith(".test.ts")) data[f] = readFileSync(join(base, f), "utf8");
  return data;
}

/** Installs (server-side apply) the CRDs of manifests/crd.yaml and waits until they are Established. */
export async function installCrds(info: ControlPlaneInfo): Promise<void> {
  const client = kubeConfig(info).makeApiClient(k8s.ApiextensionsV1Api);
  // Raw JSON through server-side apply: the generated client's serializer would drop
  // fields it only knows in camelCase, such as x-kubernetes-preserve-unknown-fields.
  const objects = KubeClient.fromKubeConfig(kubeConfig(info));
  const docs = parseAllDocuments(readFileSync(join(import.meta.dirname, "..", "..", "manifests", "crd.yaml"), "utf8")).map((d) => d.toJS() as KubeObject);
  for (const crd of docs) {
    await objects.apply(crd, { fieldManager: "chakrator-tests", force: true });
    await eventually(async () => {
      const got = await client.readCustomResourceDefinition({ name: crd.metadata.name });
      return got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    }, 20_000, `CRD ${crd.metadata.name} Established`);
  }
  objects.close();
}

/**
 * Installs a minimal namespaced CRD `<Kind>` in group `test.chakrator.dev/v1` (spec and
 * status preserve unknown fields, status subresource on) and waits until it is served.
 * Lets tests run several reconcilers side by side, one kind each.
 */
export async function installTestCrd(info: ControlPlaneInfo, kind: string): Promise<{ apiVersion: string; kind: string }> {
  const plural = `${kind.toLowerCase()}s`;
  const client = KubeClient.fromKubeConfig(kubeConfig(info));
  const open = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  await client.apply({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.test.chakrator.dev` },
    spec: {
      group: "test.chakrator.dev",
      scope: "Namespaced",
      names: { plural, singular: kind.toLowerCase(), kind },
      versions: [{ name: "v1", served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: "object", properties: { spec: open, status: open } } } }],
    },
  }, { fieldManager: "chakrator-tests", force: true });
  await eventually(async () => (await client.resource("test.chakrator.dev/v1", kind).then(() => true, () => false)), 20_000, `CRD ${kind} served`);
  client.close();
  return { apiVersion: "test.chakrator.dev/v1", kind };
}

/** Runs `fn` over `items` with at most `limit` calls in flight (bulk creates in tests and benchmarks). */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}
