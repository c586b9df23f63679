/** Finds or builds the control-plane binaries and prints where they are (used by .ci/run). */
import { BinaryError, ensureBinaries } from "./binaries.ts";

try {
  const b = await ensureBinaries();
  console.log(`testenv: ${b.source}: etcd ${b.versions.etcd} at ${b.etcd}; kube-apiserver ${b.versions.kubernetes} at ${b.kubeApiserver}`);
} catch (err: unknown) {
  console.error(err instanceof BinaryError ? `testenv: ${err.message}` : err);
  process.exit(1);
}
