// The deployment artefacts, checked as far as this machine can:
// - `kubectl kustomize manifests/` renders the expected objects (restricted security
//   context, probes, the reconciler ConfigMap generated from the sample file) and
//   `kubectl apply --dry-run=server -k manifests/` passes on the real control plane;
// - the Containerfile and skaffold.yaml reference only files that exist, the image's
//   command is the one the tests run, it runs as non-root, and what the command
//   imports is in the image (production dependencies, files not ignored);
// - RBAC is enough and not more: the operator's ServiceAccount's real token, with the
//   shrunken ClusterRole, runs every sample, each reconciler acting as its own
//   ServiceAccount (granted what `chakrator rbac` prints), with no "forbidden"
//   anywhere; what a reconciler's ServiceAccount lacks is refused with a clear message.
// No container engine here: the image itself is not built (CI of the image does that).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { eventually, installCrds, kubeConfig, sampleSource, testCluster, testNamespace, type ControlPlaneInfo } from "../operator/testenv/index.ts";
import { KubeApiError, KubeClient, type KubeObject } from "../operator/src/kube/client.ts";
import { Operator } from "../operator/src/operator.ts";
import { LogBus, type LogRecord } from "../operator/src/telemetry/log.ts";

const root = join(import.meta.dirname, "..");
const read = (p: string) => readFileSync(join(root, p), "utf8");

type Obj = KubeObject & Record<string, any>;
interface Condition { type: string; status: string; reason?: string; message?: string }
type Live = KubeObject & { status?: Record<string, unknown> & { conditions?: Condition[] } };
const ready = (r: Live | undefined) => r?.status?.conditions?.find((c) => c.type === "Ready");

function render(): Obj[] {
  const text = execFileSync("kubectl", ["kustomize", join(root, "manifests")], { encoding: "utf8" });
  return parseAllDocuments(text).map((d) => d.toJS() as Obj);
}

/** Server-side applies every object of a YAML file (CRDs: waits until Established). */
async function applyFile(client: KubeClient, file: string): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS() as KubeObject;
    await client.apply(obj, { fieldManager: "chakrator-tests", force: true });
    if (obj.kind === "CustomResourceDefinition") {
      await eventually(async () => {
        const got = await client.get<Live>("apiextensions.k8s.io/v1", "CustomResourceDefinition", obj.metadata.name);
        return got?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
      }, 20_000, `CRD ${obj.metadata.name} Established`);
    }
  }
}

/** The Containerfile's stages: each FROM with the instructions under it. */
function stages(text: string): Array<{ from: string; lines: string[] }> {
  const joined = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const out: Array<{ from: string; lines: string[] }> = [];
  for (const l of joined) {
    if (/^FROM\s/i.test(l)) out.push({ from: l, lines: [] });
    else out.at(-1)?.lines.push(l);
  }
  return out;
}

/** Relative and bare imports of a TypeScript file (static and `new URL("./x.ts", import.meta.url)`). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm), ...text.matchAll(/^\s*import\s+"([^"]+)"/gm), ...text.matchAll(/new URL\("(\.[^"]+\.ts)", import\.meta\.url\)/g), ...text.matchAll(/await import\("([^"]+)"\)/g)]
    .filter((m) => !/^\s*(?:import|export)\s+type\s/.test(m[0]))
    .map((m) => m[1]!)
    .filter((spec) => !spec.includes("${")); // text inside template strings, e.g. generated code
  return [...new Set(specs)];
}

describe("manifests", () => {
  const objects = render();
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const deployment = byKind("Deployment")[0]!;

  it("render the expected objects", () => {
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      "ClusterRole/chakrator", "ClusterRole/chakrator:chakrator-system:message-reconciler", "ClusterRoleBinding/chakrator", "ClusterRoleBinding/chakrator:chakrator-system:message-reconciler",
      "ConfigMap/message-reconciler", "CustomResourceDefinition/myresources.example.com",
      "Deployment/chakrator", "Namespace/chakrator-system", "Role/chakrator-leader-election", "Role/chakrator-relay", "Role/chakrator-webhook-tls",
      "RoleBinding/chakrator-leader-election", "RoleBinding/chakrator-relay", "RoleBinding/chakrator-webhook-tls", "Service/chakrator-editor", "Service/chakrator-webhook", "ServiceAccount/chakrator",
      "ServiceAccount/message-reconciler",
    ]);
    for (const o of objects) {
      if (!["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"].includes(o.kind)) assert.equal(o.metadata.namespace, "chakrator-system", `${o.kind} ${o.metadata.name}`);
    }
  });

  it("keep the MyResource CRD as manifests/crd.yaml has it", () => {
    assert.deepEqual(byKind("CustomResourceDefinition")[0], parse(read("manifests/crd.yaml")));
  });

  it("generate the seed reconciler ConfigMap from samples/01-message/reconciler.ts, without a hash suffix", () => {
    const cm = byKind("ConfigMap")[0]!;
    assert.equal(cm.metadata.name, "message-reconciler");
    assert.equal(cm.metadata.labels?.["chakrator.dev/reconciler"], "true");
    assert.equal(cm.metadata.annotations?.["chakrator.dev/watch-namespace"], "*");
    assert.equal(cm.metadata.annotations?.["chakrator.dev/service-account"], "message-reconciler");
    assert.deepEqual(cm.data, { "reconciler.ts": read("samples/01-message/reconciler.ts") });
  });

  it("run the operator with a restricted security context, probes, limits and the editor's address", () => {
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(pod.serviceAccountName, "chakrator");
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
    assert.deepEqual(c.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
    const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    assert.equal(env.CHAKRATOR_LISTEN, "0.0.0.0:8080");
    assert.equal(env.CHAKRATOR_LEADER_ELECTION, "true");
    assert.equal(env.CHAKRATOR_NAMESPACE, "chakrator-system", "only ConfigMaps in the operator's namespace define reconcilers");
    assert.deepEqual(c.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }, { name: "webhook", containerPort: 9443, protocol: "TCP" }]);
    assert.equal(env.CHAKRATOR_WEBHOOK_SERVICE, "chakrator-webhook");
    assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "http" });
    assert.deepEqual(c.livenessProbe.httpGet, { path: "/healthz", port: "http" });
    assert.equal(c.resources.limits.memory, "768Mi", "room for the operator, the sandbox host and the compiler (see the comment)");
    assert.equal(env.CHAKRATOR_ADVERTISE_URL, "http://$(POD_IP):8080", "followers find the leader's log stream here");
    assert.ok(c.resources.requests.memory && c.resources.requests.cpu);
    assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
    assert.ok(pod.volumes.find((v: { name: string; emptyDir?: unknown }) => v.name === "tmp" && v.emptyDir));
    const svc = byKind("Service")[0]!;
    assert.equal(svc.metadata.name, "chakrator-editor");
    assert.deepEqual(svc.spec.ports.map((p: { port: number; targetPort: string }) => [p.port, p.targetPort]), [[80, "http"]]);
    assert.deepEqual(svc.spec.selector, deployment.spec.selector.matchLabels);
    const webhook = byKind("Service").find((s) => s.metadata.name === "chakrator-webhook")!;
    assert.deepEqual(webhook.spec.ports.map((p: { port: number; targetPort: string }) => [p.port, p.targetPort]), [[443, "webhook"]]);
    assert.deepEqual(webhook.spec.selector, deployment.spec.selector.matchLabels);
  });

  it("grant no wildcards, and on Secrets only the webhook's own, in the operator's namespace", () => {
    for (const role of [...byKind("ClusterRole"), ...byKind("Role")]) {
      for (const rule of role.rules) {
        for (const field of ["apiGroups", "resources", "verbs"]) assert.ok(!rule[field].includes("*"), `${role.metadata.name}: ${JSON.stringify(rule)}`);
        if (rule.resources.includes("secrets")) {
          assert.equal(role.kind, "Role", "Secrets only in the operator's namespace");
          assert.ok(rule.verbs.every((v: string) => v === "create") || (rule.resourceNames?.join() === "chakrator-webhook-tls" && rule.verbs.join() === "get,update"), JSON.stringify(rule));
        }
        assert.ok(!rule.verbs.includes("escalate") && !rule.verbs.includes("bind"));
        // Impersonation: of ServiceAccounts only (the reconcilers' identities), never users or groups.
        if (rule.verbs.includes("impersonate")) assert.deepEqual([role.metadata.name, rule.apiGroups, rule.resources, rule.verbs], ["chakrator", [""], ["serviceaccounts"], ["impersonate"]]);
      }
    }
  });

  describe("Containerfile", () => {
    const text = read("Containerfile");
    const all = stages(text);
    const final = all.at(-1)!;

    it("builds in a stage and runs the operator's JavaScript built there (js/) as a non-root user", () => {
      assert.equal(all.length, 2);
      assert.match(text, /^ARG NODE_IMAGE=node:24\.\d+\.\d+-bookworm-slim$/m, "a pinned Node 24 slim tag");
      assert.match(all[0]!.from, /^FROM \$\{NODE_IMAGE\} AS build$/);
      const cmd = final.lines.filter((l) => l.startsWith("CMD "));
      assert.deepEqual(cmd.map((l) => JSON.parse(l.slice(4))), [["node", "js/operator/src/main.mjs"]]);
      assert.ok(final.lines.includes("ENV CHAKRATOR_JS_DIR=/app/js"), "the children start from js/ too");
      assert.ok(final.lines.includes("COPY --from=build /app/js/ js/"));
      const users = final.lines.filter((l) => l.startsWith("USER "));
      assert.deepEqual(users, ["USER node"], "the node image's uid 1000");
      assert.ok(final.lines.includes("ENV NODE_ENV=production"));
      const build = all[0]!.lines.join("\n");
      assert.match(build, /RUN npm ci /);
      assert.match(build, /node ui\/build\.ts/);
      assert.match(build, /npm prune --omit=dev/);
      // After the prune, so the tree's package URLs are the production node_modules'; the
      // same command builds the tree operator/src/child/js-entry.test.ts runs.
      assert.match(build, /npm prune --omit=dev[^]*&& node operator\/src\/child\/js-entry\.ts \/app\/js$/);
      assert.ok(existsSync(join(root, "operator/src/main.ts")));
    });

    it("copies only files that exist (from the context) or that the build stage made", () => {
      const ignored = read(".containerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
      for (const stage of all) {
        for (const l of stage.lines.filter((x) => x.startsWith("COPY "))) {
          const parts = l.split(/\s+/).slice(1).filter((p) => !p.startsWith("--"));
          const sources = parts.slice(0, -1);
          if (l.includes("--from=build")) {
            for (const s of sources) assert.ok(["/app/node_modules/", "/app/ui/dist/", "/app/js/"].includes(s), `${l}: ${s} is made by the build stage`);
            continue;
          }
          for (const s of sources) {
            assert.ok(existsSync(join(root, s)), `${l}: ${s} exists`);
            assert.ok(!ignored.includes(s.replace(/\/$/, "")), `${l}: ${s} is not in .containerignore`);
          }
        }
      }
      assert.ok(ignored.includes("**/node_modules") && ignored.includes(".git") && ignored.includes("ui/dist"));
    });

    it("holds everything main.ts, the sandbox host and the compiler import: production dependencies and files the ignore list keeps", () => {
      const pkg = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
      const ignoredDirs = ["operator/testenv", "operator/bench", "ui/test"];
      const seen = new Set<string>();
      const queue = [join(root, "operator/src/main.ts"), join(root, "operator/src/sandbox/host.ts"), join(root, "operator/src/reconcilers/compile-worker.ts")];
      while (queue.length > 0) {
        const file = queue.pop()!;
        if (seen.has(file)) continue;
        seen.add(file);
        const rel = relative(root, file);
        assert.ok(!rel.endsWith(".test.ts") && !ignoredDirs.some((d) => rel.startsWith(`${d}/`)), `${rel} is excluded from the image but imported`);
        assert.ok(existsSync(file), `${rel} exists`);
        for (const spec of importsOf(file)) {
          if (spec.startsWith(".")) queue.push(resolve(dirname(file), spec));
          else if (!isBuiltin(spec)) {
            const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
            assert.ok(name in pkg.dependencies, `${rel} imports ${spec}, which is not a production dependency`);
          }
        }
      }
      assert.ok(seen.size > 10, `walked ${seen.size} files`);
      // The reconciler typings the compiler reads at run time are under operator/.
      assert.ok(existsSync(join(root, "operator/types/chakrator.d.ts")));
    });

    it("needs no compiler for isolated-vm: its package ships the Node 24 (abi137) glibc prebuild", () => {
      const prebuilds = readdirSync(join(root, "node_modules/isolated-vm/prebuilds/linux-x64"));
      assert.ok(prebuilds.includes("isolated-vm.abi137.glibc.node"), prebuilds.join(", "));
      assert.equal(process.versions.modules, "137", "this Node is the image's ABI");
      execFileSync(process.execPath, ["-e", "require('isolated-vm')"], { cwd: root });
    });
  });

  describe("skaffold.yaml", () => {
    const config = parse(read("skaffold.yaml")) as Obj;

    it("builds the Containerfile, deploys manifests/ with kustomize and forwards the editor", () => {
      assert.match(config.apiVersion, /^skaffold\/v4/);
      assert.equal(config.kind, "Config");
      const artifact = config.build.artifacts[0];
      assert.equal(artifact.image, deployment.spec.template.spec.containers[0].image, "the image the Deployment names");
      assert.equal(artifact.docker.dockerfile, "Containerfile");
      assert.ok(existsSync(join(root, artifact.context ?? ".", artifact.docker.dockerfile)));
      assert.deepEqual(config.manifests.kustomize.paths, ["manifests"]);
      for (const p of config.manifests.kustomize.paths) assert.ok(existsSync(join(root, p, "kustomization.yaml")));
      assert.ok(config.deploy.kubectl);
      const pf = config.portForward[0];
      assert.deepEqual([pf.resourceType, pf.resourceName, pf.namespace, pf.port, pf.localPort], ["service", "chakrator-editor", "chakrator-system", 80, 8080]);
      const local = config.profiles.find((p: { name: string }) => p.name === "local");
      assert.equal(local.build.local.push, false);
    });

    it("watches the reconciler file: it is a kustomize input (resources -> configMapGenerator files)", () => {
      const base = parse(read("manifests/kustomization.yaml")) as { resources: string[] };
      assert.ok(base.resources.includes("../samples/01-message"));
      const sample = parse(read("samples/01-message/kustomization.yaml")) as { configMapGenerator: Array<{ files: string[]; options: Record<string, unknown> }> };
      assert.deepEqual(sample.configMapGenerator[0]?.files, ["reconciler.ts"]);
      assert.equal(sample.configMapGenerator[0]?.options.disableNameSuffixHash, true);
    });
  });

  describe("on the real control plane", () => {
    let info: ControlPlaneInfo;
    let admin: KubeClient;
    let sa: KubeClient;
    let token: string;

    before(async () => {
      info = await testCluster();
      admin = KubeClient.fromKubeConfig(kubeConfig(info));
      await installCrds(info);
      // The namespace, ServiceAccount and RBAC for real (server dry-run of the namespaced
      // objects needs their namespace to exist).
      for (const o of objects.filter((x) => ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(x.kind))) {
        await admin.apply(o, { fieldManager: "chakrator-tests", force: true });
      }
      const tr = await eventually(() => admin.request<{ status: { token: string } }>("POST", "/api/v1/namespaces/chakrator-system/serviceaccounts/chakrator/token", {
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
      }), 10_000, "a ServiceAccount token");
      token = tr.status.token;
      sa = KubeClient.fromKubeConfig(kubeConfig(info, token));
    });
    after(() => {
      admin?.close();
      sa?.close();
    });

    it("kubectl apply --dry-run=server -k manifests/ passes", () => {
      const out = execFileSync("kubectl", ["--kubeconfig", info.kubeconfig, "apply", "--dry-run=server", "-k", join(root, "manifests")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      for (const name of ["deployment.apps/chakrator", "service/chakrator-editor", "configmap/message-reconciler", "clusterrole.rbac.authorization.k8s.io/chakrator"]) {
        assert.match(out, new RegExp(`${name.replace(/\./g, "\\.")} .*\\(server dry run\\)`), out);
      }
    });

    it("lets the ServiceAccount hold the leader Lease and review tokens, and nothing beside", async () => {
      await admin.delete("coordination.k8s.io/v1", "Lease", "chakrator-leader", "chakrator-system");
      const lease = await sa.create<KubeObject>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "chakrator-leader", namespace: "chakrator-system" }, spec: { holderIdentity: "test", leaseDurationSeconds: 15 } });
      const got = (await sa.get("coordination.k8s.io/v1", "Lease", "chakrator-leader", "chakrator-system"))!;
      await sa.replace({ ...got, spec: { ...(got.spec as object), holderIdentity: "" } });
      assert.ok(lease.metadata.uid);
      const review = await sa.request<{ status: { authenticated?: boolean } }>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } });
      assert.equal(review.status.authenticated, true);
      const forbidden = async (what: string, call: () => Promise<unknown>) => {
        await assert.rejects(call, (err: unknown) => err instanceof KubeApiError && err.status === 403, what);
      };
      const ns = await testNamespace(info, "rbac-deny");
      await forbidden("Secrets", () => sa.list("v1", "Secret", { namespace: ns }));
      await forbidden("another Secret of its own namespace", () => sa.get("v1", "Secret", "someone-else", "chakrator-system"));
      await forbidden("a Lease elsewhere", () => sa.create({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "chakrator-leader", namespace: ns }, spec: {} }));
      await forbidden("another Lease's get", () => sa.get("coordination.k8s.io/v1", "Lease", "someone-else", "chakrator-system"));
      await forbidden("Roles", () => sa.create({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "x", namespace: ns }, rules: [] }));
      await forbidden("Pods", () => sa.list("v1", "Pod", { namespace: ns }));
      await forbidden("a new MyResource", () => sa.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "x", namespace: ns }, spec: { message: "x" } }));
      // The reconcilers' kinds are not the operator's: it may not even read them itself.
      await forbidden("MyResources", () => sa.list("example.com/v1", "MyResource", { namespace: ns }));
      await forbidden("Deployments", () => sa.list("apps/v1", "Deployment", { namespace: ns }));
      // It may act as a ServiceAccount, but never as a user or with a group of its choosing.
      await forbidden("impersonating a user", () => sa.impersonating("admin", []).list("v1", "ConfigMap", { namespace: ns }));
      await forbidden("impersonating system:masters", () => sa.impersonating(`system:serviceaccount:${ns}:default`, ["system:masters"]).list("v1", "ConfigMap", { namespace: ns }));
    });

    it("lets the ServiceAccount keep the webhook's certificate Secret and webhook configurations", async () => {
      await admin.delete("v1", "Secret", "chakrator-webhook-tls", "chakrator-system");
      const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "chakrator-webhook-tls", namespace: "chakrator-system" }, type: "Opaque", data: { a: "YQ==" } };
      await sa.create(secret);
      const got = (await sa.get("v1", "Secret", "chakrator-webhook-tls", "chakrator-system"))!;
      await sa.replace({ ...got, data: { a: "Yg==" } });
      const config = {
        apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name: "chakrator.rbac-test", labels: { "chakrator.dev/instance": "rbac-test" } },
        webhooks: [{ name: "x.rbac-test.validate.chakrator.dev", admissionReviewVersions: ["v1"], sideEffects: "None", failurePolicy: "Ignore", clientConfig: { url: "https://127.0.0.1:1/x" }, rules: [{ apiGroups: ["example.com"], apiVersions: ["v1"], resources: ["nothings"], operations: ["CREATE"] }] }],
      };
      await sa.apply(config, { fieldManager: "chakrator", force: true });
      await sa.apply(config, { fieldManager: "chakrator", force: true });
      assert.equal((await sa.list("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", { labelSelector: "chakrator.dev/instance=rbac-test" })).items.length, 1);
      assert.equal(await sa.delete("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "chakrator.rbac-test"), true);
      await admin.delete("v1", "Secret", "chakrator-webhook-tls", "chakrator-system");
    });

    describe("the operator with the ServiceAccount's token", () => {
      const samples = ["01-message", "02-static-website", "03-finalizer", "04-error-handling"];
      const kinds: Record<string, { apiVersion: string; kind: string }> = {};
      const records: LogRecord[] = [];
      const bus = new LogBus({ stdout: false });
      bus.subscribe(undefined, (r) => records.push(r));
      let op: Operator | undefined;

      before(async () => {
        for (const dir of samples) if (existsSync(join(root, "samples", dir, "crd.yaml"))) await applyFile(admin, join(root, "samples", dir, "crd.yaml"));
      });
      after(async () => {
        if (process.env.DEBUG_RBAC) for (const r of records.filter((x) => x.level !== "debug")) console.error(r.level, r.resource ?? r.reconciler ?? "", r.message);
        await op?.stop(2_000);
      });

      it("reconciles every sample to Ready=True with no forbidden anywhere, each as its own ServiceAccount", async () => {
        const ns = await testNamespace(info, "rbac-samples");
        op = await Operator.start({ kubeConfig: kubeConfig(info, token), namespace: ns, log: bus, impersonate: true, sandbox: { timeoutMs: 3_000, poolSize: 1 } });
        for (const dir of samples) {
          // What `chakrator rbac` prints for the sample is all its ServiceAccount gets.
          const printed = execFileSync(process.execPath, [join(root, "operator/src/cli.ts"), "rbac", join(root, "samples", dir), "--no-discovery", "-n", ns, "--service-account", `sample-${dir}`], { encoding: "utf8" });
          for (const doc of parseAllDocuments(printed)) await admin.apply(doc.toJS() as KubeObject, { fieldManager: "chakrator-tests", force: true });
          await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `r-${dir}`, namespace: ns, labels: { "chakrator.dev/reconciler": "true" }, annotations: { "chakrator.dev/service-account": `sample-${dir}` } }, data: sampleSource(dir) });
          const res = parse(read(`samples/${dir}/resource.yaml`)) as KubeObject;
          kinds[dir] = { apiVersion: res.apiVersion, kind: res.kind };
          await eventually(() => op!.sources.state(`${ns}/r-${dir}`)?.active, 20_000, `${dir} revision accepted`);
          await admin.create({ ...res, metadata: { ...res.metadata, namespace: ns } });
        }
        for (const dir of samples) {
          const res = parse(read(`samples/${dir}/resource.yaml`)) as KubeObject;
          await eventually(async () => ready(await admin.get<Live>(res.apiVersion, res.kind, res.metadata.name, ns))?.status === "True", 20_000, `${dir} Ready=True`);
        }
        // The finalizer path too (get + patch of the resource, Events): the seed's finalize.
        await admin.delete("example.com/v1", "MyResource", "hello", ns);
        await eventually(async () => (await admin.get("example.com/v1", "MyResource", "hello", ns)) === undefined, 20_000, "finalized");
        const problems = records.filter((r) => /forbidden|cannot (create|get|list|watch|patch|update|delete)/i.test(JSON.stringify(r)));
        assert.deepEqual(problems.map((r) => r.message), []);
        assert.ok(records.some((r) => r.source === "user"), "the samples' logs reached the bus");
        await op.stop(2_000);
        op = undefined;
      });

      it("refuses kinds outside the grant with a clear message", async () => {
        const ns = await testNamespace(info, "rbac-refused");
        records.length = 0;
        op = await Operator.start({ kubeConfig: kubeConfig(info, token), namespace: ns, log: bus, impersonate: true, sandbox: { timeoutMs: 3_000, poolSize: 1 } });
        // "nested" acts as a ServiceAccount that may read Shortlinks and MyResources but create nothing.
        for (const obj of [
          { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "reader", namespace: ns } },
          { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "reader", namespace: ns }, rules: [
            { apiGroups: ["example.com"], resources: ["shortlinks", "myresources"], verbs: ["get", "list", "watch"] },
            { apiGroups: ["example.com"], resources: ["shortlinks/status"], verbs: ["patch"] },
            { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
          ] },
          { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "reader", namespace: ns }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" }, subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }] },
        ] as KubeObject[]) await admin.apply(obj, { fieldManager: "chakrator-tests", force: true });
        // Owns Secrets: not granted at all, so not even its watch may start.
        await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "secrets", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } }, data: { "reconciler.ts": `
import type { Reconciler, Resource } from "chakrator";
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "Secret" }],
  reconcile(res: Resource) {
    return { children: [{ apiVersion: "v1", kind: "Secret", metadata: { name: res.metadata.name + "-secret" }, stringData: { a: "b" } }] };
  },
} satisfies Reconciler;
` } });
        // Owns MyResources: watched (a for kind) but never created by the operator.
        await admin.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "nested", namespace: ns, labels: { "chakrator.dev/reconciler": "true" }, annotations: { "chakrator.dev/service-account": "reader" } }, data: { "reconciler.ts": `
import type { Reconciler, Resource } from "chakrator";
export default {
  for: { apiVersion: "example.com/v1", kind: "Shortlink" },
  owns: [{ apiVersion: "example.com/v1", kind: "MyResource" }],
  reconcile(res: Resource) {
    return { children: [{ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: res.metadata.name + "-nested" }, spec: { message: "nested" } }] };
  },
} satisfies Reconciler;
` } });
        await eventually(() => op!.sources.state(`${ns}/secrets`)?.active && op!.sources.state(`${ns}/nested`)?.active, 20_000, "both accepted");
        await admin.create({ apiVersion: "example.com/v1", kind: "MyResource", metadata: { name: "wants-secret", namespace: ns }, spec: { message: "x" } });
        await admin.create({ apiVersion: "example.com/v1", kind: "Shortlink", metadata: { name: "wants-cr", namespace: ns }, spec: { slug: "a", target: "https://example.com" } });

        // A create the role lacks: Ready=False on the resource, naming who lacks what.
        const refused = await eventually(async () => {
          const r = await admin.get<Live>("example.com/v1", "Shortlink", "wants-cr", ns);
          return ready(r)?.status === "False" ? r : undefined;
        }, 20_000, "Ready=False");
        assert.equal(ready(refused)?.reason, "ApplyFailed");
        assert.match(ready(refused)?.message ?? "", new RegExp(`apply MyResource wants-cr-nested: .*forbidden: User "system:serviceaccount:${ns}:reader" cannot (create|patch) resource "myresources"`));

        // A kind it may not even watch: the reconciler cannot start, and says why in the log.
        const logged = await eventually(() => records.find((r) => /watch of Secret failed/.test(r.message) && /forbidden/i.test(r.message)), 20_000, "a forbidden watch logged");
        assert.equal(logged.reconciler, `${ns}/secrets`);
        // ... and where `kubectl describe configmap secrets` shows it.
        const event = await eventually(async () => (await admin.list("v1", "Event", { namespace: ns })).items.find((e) => e.reason === "WatchForbidden" && (e.involvedObject as { name?: string }).name === "secrets" && /Secret/.test(String(e.message))), 20_000, "WatchForbidden Event");
        assert.match(String(event.message), /may not list\/watch Secret/);
        assert.equal(ready(await admin.get<Live>("example.com/v1", "MyResource", "wants-secret", ns)), undefined, "never reconciled");
        assert.equal((await admin.list("v1", "Secret", { namespace: ns })).items.filter((s) => s.metadata.name === "wants-secret-secret").length, 0);
      });
    });
  });
});
