/**
 * `npm start`: the operator and the editor for a person at a terminal.
 *
 * 1. Uses the current kube context (KUBECONFIG honoured) when its API server answers
 *    within a few seconds; otherwise starts the local test control plane (etcd +
 *    kube-apiserver on loopback; built from source the first time, which takes minutes).
 * 2. Installs the MyResource CRD, the sample reconciler ConfigMap and the sample
 *    resource (server-side apply, so re-running changes nothing).
 * 3. Bundles the editor if needed, runs the operator with the editor on
 *    http://127.0.0.1:8080 (loopback: no sign-in), and says how to watch it.
 * Logs print as readable lines; Ctrl-C stops everything it started.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ControlPlane } from "../../testenv/controlplane.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { runOperator } from "../run.ts";
import { LogBus, parseLogLevel, type LogRecord } from "../telemetry/log.ts";

const root = join(import.meta.dirname, "..", "..", "..");
const say = (line: string) => console.error(`chakrator: ${line}`);

if (Number(process.versions.node.split(".")[0]) < 24) {
  say(`Node.js 24 or newer is needed (this is ${process.version}); see .nvmrc`);
  process.exit(1);
}

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
if (await reachable(kubeConfig)) {
  say(`using kube context "${kubeConfig.getCurrentContext()}" (${kubeConfig.getCurrentCluster()?.server})`);
} else {
  say("no reachable kube context: starting a local control plane (etcd + kube-apiserver on loopback)");
  controlPlane = await ControlPlane.start({ log: say });
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.info.kubeconfig);
}
const namespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? "default";

const client = KubeClient.fromKubeConfig(kubeConfig);
const apply = (obj: KubeObject) => client.apply(obj, { fieldManager: "chakrator-start", force: true });
try {
  for (const doc of parseAllDocuments(readFileSync(join(root, "manifests", "crd.yaml"), "utf8"))) await apply(doc.toJS() as KubeObject);
  for (let i = 0; i < 50 && !(await client.resource("example.com/v1", "MyResource").then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
  await apply({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "message-reconciler", namespace, labels: { "chakrator.dev/reconciler": "true" } },
    data: { "reconciler.ts": readFileSync(join(root, "samples", "01-message", "reconciler.ts"), "utf8") },
  });
  const sample = parseAllDocuments(readFileSync(join(root, "samples", "01-message", "resource.yaml"), "utf8"))[0]!.toJS() as KubeObject;
  await apply({ ...sample, metadata: { ...sample.metadata, namespace } });
  say(`installed in namespace "${namespace}": CRD myresources.example.com, reconciler ConfigMap message-reconciler, MyResource ${sample.metadata.name}`);
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

const colours: Record<LogRecord["level"], string> = { debug: "\x1b[2m", info: "", warn: "\x1b[33m", error: "\x1b[31m" };
const log = new LogBus({
  stdoutLevel: parseLogLevel(process.env.CHAKRATOR_LOG_LEVEL) ?? "info",
  stdout: {
    write(line: string) {
      const r = JSON.parse(line) as LogRecord;
      const where = [r.reconciler, r.revision !== undefined ? `rev ${r.revision}` : undefined, r.resource].filter(Boolean).join(" ");
      const fields = r.fields ? ` ${JSON.stringify(r.fields)}` : "";
      process.stdout.write(`${colours[r.level]}${r.time.slice(11, 23)} ${r.level.padEnd(5)} ${where ? `[${where}] ` : ""}${r.message}${fields}\x1b[0m\n`);
    },
  },
});

const port = Number(process.env.PORT ?? 8080);
const running = await runOperator({ kubeConfig, log, listen: { host: "127.0.0.1", port }, auth: "off", handleSignals: false });
say(`running. Editor: ${running.url}`);
if (controlPlane) say(`in another terminal: export KUBECONFIG=${controlPlane.info.kubeconfig}`);
say("watch it work:   kubectl get myresources -w");
say("edit the code:   the editor above, or kubectl edit configmap message-reconciler");
say("Ctrl-C stops the operator" + (controlPlane ? " and the local control plane" : ""));

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void running.shutdown().then(() => controlPlane?.stop()).then(() => process.exit(0));
  });
}
