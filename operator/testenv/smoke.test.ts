// Smoke tests of the shared control plane: the CRD installs, a sample round-trips,
// kustomize output passes server-side dry-run, and RBAC refuses the unprivileged user.
import * as k8s from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parse } from "yaml";
import { eventually, installCrds, kubeConfig, testCluster, testNamespace, type ControlPlaneInfo } from "./index.ts";

const root = join(import.meta.dirname, "..", "..");

describe("control plane smoke", () => {
  let info: ControlPlaneInfo;
  let ns: string;
  before(async () => {
    info = await testCluster();
    ns = await testNamespace(info, "smoke");
  });

  it("installs the CRD from manifests/ and it becomes Established", async () => {
    await installCrds(info);
    const ext = kubeConfig(info).makeApiClient(k8s.ApiextensionsV1Api);
    const established = await eventually(async () => {
      const got = await ext.readCustomResourceDefinition({ name: "myresources.example.com" });
      return got.status?.conditions?.find((c) => c.type === "Established" && c.status === "True");
    }, 20_000, "CRD Established");
    assert.equal(established.status, "True");
    const crd = await ext.readCustomResourceDefinition({ name: "myresources.example.com" });
    assert.equal(crd.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.status?.x_kubernetes_preserve_unknown_fields, true, "status keeps the fields reconcilers write");
  });

  it("creates the sample MyResource and reads it back", async () => {
    const sample = parse(readFileSync(join(root, "samples", "01-message", "resource.yaml"), "utf8")) as k8s.KubernetesObject & { spec: { message: string } };
    sample.metadata = { ...sample.metadata, namespace: ns };
    const custom = kubeConfig(info).makeApiClient(k8s.CustomObjectsApi);
    await eventually(() => custom.createNamespacedCustomObject({ group: "example.com", version: "v1", namespace: ns, plural: "myresources", body: sample }).then(() => true), 20_000, "create MyResource");
    const got = await custom.getNamespacedCustomObject({ group: "example.com", version: "v1", namespace: ns, plural: "myresources", name: sample.metadata!.name! }) as { spec: { message: string }; metadata: { uid: string } };
    assert.equal(got.spec.message, sample.spec.message);
    assert.match(got.metadata.uid, /^[0-9a-f-]{36}$/);
  });

  it("refuses a MyResource that breaks the schema", async () => {
    const custom = kubeConfig(info).makeApiClient(k8s.CustomObjectsApi);
    await assert.rejects(
      custom.createNamespacedCustomObject({ group: "example.com", version: "v1", namespace: ns, plural: "myresources", body: { apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "bad" }, spec: { replicas: -1 } } }),
      (err: unknown) => err instanceof k8s.ApiException && err.code === 422,
    );
  });

  it("passes kubectl apply --dry-run=server -k manifests/", () => {
    const r = spawnSync("kubectl", ["--kubeconfig", info.kubeconfig, "apply", "--dry-run=server", "-k", join(root, "manifests")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/myresources\.example\.com .*\(server dry run\)/);
  });

  it("refuses the unprivileged token with 403 on a ConfigMap update, and lets the admin do it", async () => {
    const admin = kubeConfig(info).makeApiClient(k8s.CoreV1Api);
    await admin.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "guarded" }, data: { a: "1" } } });
    const user = kubeConfig(info, info.userToken).makeApiClient(k8s.CoreV1Api);
    await assert.rejects(
      user.replaceNamespacedConfigMap({ namespace: ns, name: "guarded", body: { metadata: { name: "guarded" }, data: { a: "2" } } }),
      (err: unknown) => err instanceof k8s.ApiException && err.code === 403,
    );
    const anonymous = kubeConfig(info, "not-a-token").makeApiClient(k8s.CoreV1Api);
    await assert.rejects(anonymous.readNamespacedConfigMap({ namespace: ns, name: "guarded" }), (err: unknown) => err instanceof k8s.ApiException && err.code === 401);
    const after = await admin.readNamespacedConfigMap({ namespace: ns, name: "guarded" });
    assert.equal(after.data?.a, "1");
    // kubectl sees the same refusal, as a person would.
    const r = spawnSync("kubectl", ["--kubeconfig", info.userKubeconfig, "-n", ns, "get", "configmap", "guarded"], { encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /forbidden/i);
    assert.match(execFileSync("kubectl", ["--kubeconfig", info.kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { encoding: "utf8" }), /chakrator-test-admin/);
  });
});
