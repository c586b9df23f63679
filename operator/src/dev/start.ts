/**
 * `npm start`: the operator and the editor for a person at a terminal.
 *
 * 1. Uses the current kube context (KUBECONFIG honoured) when its API server answers
 *    within a few seconds, and says which context, server and namespace; otherwise
 *    starts the local test control plane (etcd + kube-apiserver on loopback; built
 *    from source the first time, which takes minutes).
 * 2. Installs the MyResource CRD, the sample reconciler ConfigMap and the sample
 *    resource (server-side apply, so re-running changes nothing).
 * 3. Bundles the editor if needed and runs the operator. Reconciler ConfigMaps come
 *    from one namespace only: the context's (`CHAKRATOR_NAMESPACE` picks another, `*`
 *    all), so a shared cluster's other reconcilers are not picked up by a laptop.
 *    The editor listens on `CHAKRATOR_LISTEN` (default 127.0.0.1:8080). Auth is off
 *    only on a loopback address; anywhere else it is "token" (sign-in with a
 *    Kubernetes bearer token), and `CHAKRATOR_AUTH=off` there is refused at start.
 * Logs print as readable lines, coloured only on a terminal and without `NO_COLOR`;
 * Ctrl-C stops everything it started.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ControlPlane } from "../../testenv/controlplane.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { rbacObjects, rbacRules } from "../kube/rbac.ts";
import { runOperator, type RunningOperator } from "../lifecycle.ts";
import { isLoopbackHost } from "../server/origin.ts";
import { LogBus, type LogRecord } from "../telemetry/log.ts";
import { consoleLine, useColour } from "./console.ts";

const root = join(import.meta.dirname, "..", "..", "..");
const say = (line: string) => console.error(`chakrator: ${line}`);

if (Number(process.versions.node.split(".")[0]) < 24) {
  say(`Node.js 24 or newer is needed (this is ${process.version}); see .nvmrc`);
  process.exit(1);
}

/** Host and port of `CHAKRATOR_LISTEN` ("host:port", "[::1]:port" or ":port"). */
function parseListen(raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    say(`CHAKRATOR_LISTEN=${raw} is not host:port (e.g. 127.0.0.1:8080)`);
    process.exit(1);
  }
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

const listen = parseListen(process.env.CHAKRATOR_LISTEN ?? "127.0.0.1:8080");
const loopback = isLoopbackHost(listen.host);
const wanted = process.env.CHAKRATOR_AUTH;
if (wanted !== undefined && wanted !== "" && wanted !== "off" && wanted !== "token") {
  say(`CHAKRATOR_AUTH=${wanted} is neither "token" nor "off"`);
  process.exit(1);
}
if (wanted === "off" && !loopback) {
  say(`refusing CHAKRATOR_AUTH=off on ${listen.host}: without sign-in, anyone who reaches that address could edit reconcilers with the operator's permissions; listen on 127.0.0.1 or drop CHAKRATOR_AUTH`);
  process.exit(1);
}
const auth: "off" | "token" = loopback && wanted !== "token" ? "off" : "token";

async function reachable(kc: KubeConfig): Promise<boolean> {
  if (!kc.getCurrentCluster()) return false;
  const client = KubeClient.fromKubeConfig(kc);
  try {
    await client.request("GET", "/version", { timeoutMs: 3_000 });
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

let kubeConfig = new KubeConfig();
let controlPlane: ControlPlane | undefined;
try {
  kubeConfig.loadFromDefault();
} catch {
  kubeConfig = new KubeConfig();
}
let where: string;
if (await reachable(kubeConfig)) {
  where = `kube context "${kubeConfig.getCurrentContext()}", server ${kubeConfig.getCurrentCluster()?.server}`;
  say(`using ${where}`);
} else {
  say("no reachable kube context: starting a local control plane (etcd + kube-apiserver on loopback)");
  controlPlane = await ControlPlane.start({ log: say });
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.info.kubeconfig);
  where = `the local control plane, server ${kubeConfig.getCurrentCluster()?.server}`;
}
const namespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace || "default";
// Reconcilers from one namespace by default: the samples are installed there.
const fromEnv = process.env.CHAKRATOR_NAMESPACE;
const reconcilerNamespace = fromEnv === "*" ? undefined : fromEnv || namespace;

const client = KubeClient.fromKubeConfig(kubeConfig);
const apply = (obj: KubeObject) => client.apply(obj, { fieldManager: "chakrator-start", force: true });
try {
  for (const doc of parseAllDocuments(readFileSync(join(root, "manifests", "crd.yaml"), "utf8"))) await apply(doc.toJS() as KubeObject);
  for (let i = 0; i < 50 && !(await client.resource("example.com/v1", "MyResource").then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
  // The sample acts as its own ServiceAccount, granted exactly what `chakrator rbac` prints for it.
  const rules = rbacRules({ group: "example.com", resource: "myresources", namespaced: true }, [{ group: "", resource: "configmaps", namespaced: true }], true);
  for (const obj of rbacObjects({ name: "message-reconciler", namespace, serviceAccount: "message-reconciler", rules, clusterWide: false })) await apply(obj);
  await apply({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "message-reconciler", namespace, labels: { "chakrator.dev/reconciler": "true" }, annotations: { "chakrator.dev/service-account": "message-reconciler" } },
    data: { "reconciler.ts": readFileSync(join(root, "samples", "01-message", "reconciler.ts"), "utf8") },
  });
  const sample = parseAllDocuments(readFileSync(join(root, "samples", "01-message", "resource.yaml"), "utf8"))[0]!.toJS() as KubeObject;
  await apply({ ...sample, metadata: { ...sample.metadata, namespace } });
  say(`installed in namespace "${namespace}": CRD myresources.example.com, reconciler ConfigMap message-reconciler, MyResource ${sample.metadata.name}`);
  say(`the reconciler acts as ServiceAccount message-reconciler, with the Role chakrator rbac prints for it`);
} catch (err: unknown) {
  say(`could not install the CRD and samples: ${err instanceof Error ? err.message : String(err)}`);
  say("the operator still starts; install manifests/crd.yaml yourself if you lack the rights");
} finally {
  client.close();
}

if (!existsSync(join(root, "ui", "dist", "index.html")) && existsSync(join(root, "ui", "build.ts"))) {
  say("bundling the editor (first run)");
  spawnSync(process.execPath, [join(root, "ui", "build.ts")], { stdio: "inherit", cwd: root });
}

const colour = useColour(process.stdout, process.env);
const log = new LogBus({
  stdout: { write: (line: string) => process.stdout.write(consoleLine(JSON.parse(line) as LogRecord, colour)) },
});

let running: RunningOperator;
try {
  running = await runOperator({
    kubeConfig,
    log,
    ...(reconcilerNamespace !== undefined ? { namespace: reconcilerNamespace } : {}),
    // As in a cluster: each reconciler acts as its ConfigMap's ServiceAccount, not as you.
    impersonate: process.env.CHAKRATOR_IMPERSONATE !== "false",
    listen,
    auth,
    handleSignals: false,
  });
} catch (err: unknown) {
  say(`the operator could not start: ${err instanceof Error ? err.message : String(err)}`);
  await controlPlane?.stop();
  process.exit(1);
}
say(`running against ${where}; reconciler ConfigMaps from ${reconcilerNamespace === undefined ? "every namespace" : `namespace "${reconcilerNamespace}"`}`);
say(`running. Editor: ${running.url} (${auth === "off" ? "loopback only, no sign-in" : "sign in with a Kubernetes bearer token, e.g. kubectl create token <serviceaccount>"})`);
if (controlPlane) say(`in another terminal: export KUBECONFIG=${controlPlane.info.kubeconfig}`);
const inNs = namespace === "default" ? "" : ` -n ${namespace}`;
say(`watch it work:   kubectl get myresources -w${inNs}`);
say(`edit the code:   the editor above, or kubectl edit configmap message-reconciler${inNs}`);
say("Ctrl-C stops the operator" + (controlPlane ? " and the local control plane" : ""));

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void running.shutdown().then(() => controlPlane?.stop()).then(() => process.exit(0));
  });
}
