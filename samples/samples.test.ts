// The samples are runnable docs, so they are tested as users meet them:
// - each type-checks with the operator's own compiler;
// - `chakrator test` (spawned, offline) predicts exactly what the operator does on the
//   real control plane: the same children (kinds, names, labels, data/spec) and the
//   same user status fields;
// - each sample's README claim holds (03: `done: false` keeps a protected Archive,
//   removing the annotation lets it go; 04: invalid input is Ready=False with a clear
//   message, a warning is an Event).
// No scheduler runs here, so Deployments never get pods: 02's status does not wait
// for them (readyReplicas stays 0 on both sides).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, parseAllDocuments, stringify } from "yaml";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../operator/testenv/index.ts";
import { contains, ownerLabel } from "../operator/src/engine/children.ts";
import { KubeClient, type KubeObject } from "../operator/src/kube/client.ts";
import { Operator } from "../operator/src/operator.ts";
import { ReconcilerCompiler } from "../operator/src/reconcilers/compile.ts";
import { LogBus } from "../operator/src/telemetry/log.ts";

const root = join(import.meta.dirname, "..");
const samples = readdirSync(import.meta.dirname, { withFileTypes: true }).filter((d) => d.isDirectory() && /^\d\d-/.test(d.name)).map((d) => d.name).sort();

interface Condition { type: string; status: string; reason?: string; message?: string }
type Live = KubeObject & { status?: Record<string, unknown> & { conditions?: Condition[] } };
const ready = (r: Live | undefined) => r?.status?.conditions?.find((c) => c.type === "Ready");

/** Server-side applies every CRD in `file` and waits until each is Established. */
async function installCrdFile(client: KubeClient, file: string): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const crd = doc.toJS() as KubeObject;
    await client.apply(crd, { fieldManager: "chakrator-tests", force: true });
    await eventually(async () => {
      const got = await client.get<Live>("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd.metadata.name);
      return got?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    }, 20_000, `CRD ${crd.metadata.name} Established`);
  }
}

/** The sample's resource.yaml (or another file), placed in `namespace`. */
function sampleResource(dir: string, namespace: string, file = "resource.yaml"): KubeObject {
  const res = parse(readFileSync(join(import.meta.dirname, dir, file), "utf8")) as KubeObject;
  return { ...res, metadata: { ...res.metadata, namespace } };
}

/** Runs `chakrator test --json`; returns the exit code and the parsed output. */
function chakratorTest(dir: string, resource: KubeObject, tmp: string): { code: number | null; out: { children: KubeObject[]; status: Record<string, unknown> } | undefined; stderr: string } {
  const file = join(tmp, `${dir}-${resource.metadata.name}.yaml`);
  writeFileSync(file, stringify(resource));
  const r = spawnSync(process.execPath, [join(root, "operator", "src", "cli.ts"), "test", join("samples", dir), file, "--json"], { cwd: root, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.status === 0 ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}

/** The user's fields of a live status (without what the engine adds). */
function userStatus(live: Live): Record<string, unknown> {
  const { conditions: _c, observedGeneration: _g, ...rest } = live.status ?? {};
  return rest;
}

describe("samples", () => {
  it("are numbered folders, each with reconciler.ts, resource.yaml, README.md, and a CRD unless it is the seed", () => {
    assert.deepEqual(samples, ["01-message", "02-static-website", "03-finalizer", "04-error-handling", "05-admission"]);
    for (const dir of samples) {
      const files = readdirSync(join(import.meta.dirname, dir));
      for (const f of ["reconciler.ts", "resource.yaml", "README.md", "kustomization.yaml"]) assert.ok(files.includes(f), `${dir}/${f}`);
      if (dir !== "01-message") assert.ok(files.includes("crd.yaml"), `${dir}/crd.yaml`);
    }
  });

  it("each type-checks with the operator's compiler, without a warning", () => {
    const compiler = new ReconcilerCompiler();
    for (const dir of samples) {
      const result = compiler.compile(sampleSource(dir));
      assert.deepEqual(result.diagnostics, [], `${dir}: ${JSON.stringify(result.diagnostics)}`);
      assert.equal(result.ok, true, dir);
    }
  });

  it("each kustomization installs the reconciler ConfigMap with every module (and the CRD)", () => {
    for (const dir of samples) {
      const text = execFileSync("kubectl", ["kustomize", join(import.meta.dirname, dir)], { encoding: "utf8" });
      const objects = parseAllDocuments(text).map((d) => d.toJS() as KubeObject & { data?: Record<string, string> });
      const cm = objects.find((o) => o.kind === "ConfigMap");
      assert.ok(cm, dir);
      assert.equal(cm.metadata.namespace, "chakrator-system");
      assert.equal(cm.metadata.labels?.["chakrator.dev/reconciler"], "true");
      assert.deepEqual(cm.data, sampleSource(dir), `${dir}: the generator lists every .ts module`);
      assert.equal(objects.some((o) => o.kind === "CustomResourceDefinition"), dir !== "01-message", dir);
    }
  });

  describe("on the real control plane", () => {
    let info: ControlPlaneInfo;
    let client: KubeClient;
    let ns: string;
    let op: Operator;
    let tmp: string;
    const bus = new LogBus({ stdout: false });
    const reconcilerName = (dir: string) => `${dir.replace(/^\d\d-/, "")}-reconciler`;
    const getLive = (kind: { apiVersion: string; kind: string }, name: string) => client.get<Live>(kind.apiVersion, kind.kind, name, ns);
    const events = async (name: string, reason: string) =>
      (await client.list("v1", "Event", { namespace: ns })).items.filter((e) => (e.involvedObject as { name?: string }).name === name && e.reason === reason);

    before(async () => {
      info = await testCluster();
      await installCrds(info);
      client = KubeClient.fromKubeConfig(kubeConfig(info));
      for (const dir of samples) if (dir !== "01-message") await installCrdFile(client, join(import.meta.dirname, dir, "crd.yaml"));
      ns = await testNamespace(info, "samples");
      tmp = mkdtempSync(join(tmpdir(), "chakrator-samples-"));
      op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus, sandbox: { timeoutMs: 3_000, poolSize: 1 } });
      for (const dir of samples) {
        await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: reconcilerName(dir), namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: sampleSource(dir) });
      }
      for (const dir of samples) await eventually(() => op.sources.state(`${ns}/${reconcilerName(dir)}`)?.active, 20_000, `${dir} accepted`);
    });
    after(async () => {
      if (process.env.DEBUG_SAMPLES) for (const r of bus.recent({ level: "warn" })) console.error(r.level, r.resource, r.message);
      await op?.stop(2_000);
      client?.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    for (const dir of ["01-message", "02-static-website", "03-finalizer", "04-error-handling"]) {
      it(`${dir}: chakrator test predicts the children and status the operator applies`, async () => {
        const resource = sampleResource(dir, ns);
        const predicted = chakratorTest(dir, resource, tmp);
        assert.equal(predicted.code, 0, predicted.stderr);
        const out = predicted.out!;
        assert.ok(out.children.length > 0, "the sample makes children");

        const created = await client.create<Live>(resource);
        const live = await eventually(async () => { const r = await getLive(resource, resource.metadata.name); return ready(r)?.status === "True" ? r : undefined; }, 20_000, `${dir} Ready=True`);
        assert.deepEqual(userStatus(live), out.status, "the status fields chakrator test printed");

        for (const want of out.children) {
          const got = await getLive(want, want.metadata.name);
          assert.ok(got, `${want.kind} ${want.metadata.name} exists`);
          assert.equal(got.metadata.namespace, ns);
          assert.equal(got.metadata.labels?.[ownerLabel], created.metadata.uid);
          const { [ownerLabel]: _uid, ...labels } = want.metadata.labels ?? {};
          assert.ok(contains(got.metadata.labels, labels), `${want.kind} ${want.metadata.name}: labels ${JSON.stringify(got.metadata.labels)}`);
          assert.deepEqual(got.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [[resource.kind, resource.metadata.name, created.metadata.uid, true]]);
          const { apiVersion: _a, kind: _k, metadata: _m, ...desired } = want;
          assert.ok(Object.keys(desired).length > 0, "data or spec to compare");
          for (const [field, value] of Object.entries(desired)) {
            assert.ok(contains(got[field], value), `${want.kind} ${want.metadata.name}.${field}: live ${JSON.stringify(got[field])} lacks ${JSON.stringify(value)}`);
          }
        }
        // Nothing more than predicted: the operator's children are exactly the CLI's.
        const owned = [];
        for (const k of op.sources.state(`${ns}/${reconcilerName(dir)}`)?.active?.owns ?? []) {
          const list = await client.list(k.apiVersion, k.kind, { namespace: ns, labelSelector: `${ownerLabel}=${created.metadata.uid}` });
          owned.push(...list.items.map((c) => `${c.kind}/${c.metadata.name}`));
        }
        assert.deepEqual(owned.sort(), out.children.map((c) => `${c.kind}/${c.metadata.name}`).sort());
      });
    }

    it("03-finalizer: a protected Archive stays (done: false, requeued, Event) until the annotation goes", async () => {
      const archive = { apiVersion: "example.com/v1", kind: "Archive" };
      const name = sampleResource("03-finalizer", ns).metadata.name;
      const before = (await getLive(archive, name))!;
      assert.ok(before.metadata.finalizers?.includes("chakrator.dev/finalizer"), "the engine added its finalizer");
      await client.delete(archive.apiVersion, archive.kind, name, ns);
      await eventually(async () => (await events(name, "DeletionBlocked")).length > 0, 20_000, "DeletionBlocked Event");
      // finalize said done: false with a 5 s requeue: it runs again and blocks again.
      await eventually(async () => (await events(name, "DeletionBlocked"))[0]?.count as number >= 2, 20_000, "finalize requeued");
      const blocked = await getLive(archive, name);
      assert.ok(blocked?.metadata.deletionTimestamp, "still there, being deleted");
      await client.patch(archive.apiVersion, archive.kind, name, ns, { metadata: { annotations: { "example.com/deletion-protection": null } } });
      await eventually(async () => (await getLive(archive, name)) === undefined, 20_000, "Archive deleted");
      assert.equal((await events(name, "Released")).length, 1, "the cleanup Event");
    });

    it("04-error-handling: invalid input is Ready=False with every problem named, and chakrator test says the same", async () => {
      const shortlink = { apiVersion: "example.com/v1", kind: "Shortlink" };
      const invalid = sampleResource("04-error-handling", ns, "invalid.yaml");
      const predicted = chakratorTest("04-error-handling", invalid, tmp);
      assert.equal(predicted.code, 1);
      assert.match(predicted.stderr, /invalid Shortlink: spec\.slug "Not A Slug" must be .*; spec\.target must use http or https, not ftp/);
      await client.create(invalid);
      const live = await eventually(async () => { const r = await getLive(shortlink, invalid.metadata.name); return ready(r)?.status === "False" ? r : undefined; }, 20_000, "Ready=False");
      assert.equal(ready(live)?.reason, "ReconcileError", ready(live)?.message);
      assert.match(ready(live)?.message ?? "", /invalid Shortlink: spec\.slug "Not A Slug" must be .*; spec\.target must use http or https, not ftp/);
      assert.ok((await events(invalid.metadata.name, "ReconcileError")).some((e) => e.type === "Warning"), "a Warning Event from the engine");
      // The valid sample's http target: reconciled, with the sample's own Warning Event.
      assert.ok((await events("docs", "InsecureTarget")).some((e) => e.type === "Warning"), "ctx.event Warning");
      // Fixing the spec reconciles at once (a new generation), whatever the backoff.
      await client.patch(shortlink.apiVersion, shortlink.kind, invalid.metadata.name, ns, { spec: { slug: "fixed", target: "https://example.com/" } });
      await eventually(async () => ready(await getLive(shortlink, invalid.metadata.name))?.status === "True", 20_000, "Ready=True after the fix");
    });
  });
});
