/**
 * `npm run control-plane`: a local etcd + kube-apiserver for a person to use, with the
 * CRDs from manifests/crd.yaml installed. Prints the kubeconfig path; Ctrl-C stops
 * everything and removes its files.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ControlPlane, ControlPlaneError } from "./controlplane.ts";

const root = join(import.meta.dirname, "..", "..");

try {
  const cp = await ControlPlane.start();
  const r = spawnSync("kubectl", ["--kubeconfig", cp.info.kubeconfig, "apply", "-f", join(root, "manifests", "crd.yaml")], { encoding: "utf8" });
  if (r.status !== 0) console.error(`could not install the CRD: ${r.stderr.trim()}`);
  console.log(`control plane ready at ${cp.info.server}`);
  console.log(`  export KUBECONFIG=${cp.info.kubeconfig}`);
  console.log(`  unprivileged user: KUBECONFIG=${cp.info.userKubeconfig}`);
  console.log("Ctrl-C stops it and removes its files.");
  // The servers' handles are unref'd (they must not hold tests open): keep this process alive.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const stop = () => { clearInterval(keepAlive); void cp.stop().then(() => process.exit(0)); };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} catch (err: unknown) {
  console.error(err instanceof ControlPlaneError ? `control plane: ${err.message}` : err);
  process.exit(1);
}
