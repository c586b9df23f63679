/**
 * Finds or builds the control-plane binaries (`etcd`, `kube-apiserver`) for tests.
 *
 * Order, as controller-runtime's envtest does it:
 *   1. `KUBEBUILDER_ASSETS`, when set, must hold both binaries (a missing or broken
 *      one there is an error: we never overwrite a folder the user pointed us at);
 *   2. the cache folder `$CHAKRATOR_CACHE/testenv/<versions>/` (default
 *      `~/.cache/chakrator`), outside the repository's tracked files;
 *   3. otherwise they are built there with the Go toolchain from the pinned modules
 *      in `gobuild/go.mod` — the one place that pins the Kubernetes and etcd versions.
 *
 * A cached binary is checked by running it with `--version`; a corrupt one is rebuilt.
 * Builds write to a temporary name and rename, so an interrupted build never leaves a
 * half-written binary behind under the final name.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const goModuleDir = join(import.meta.dirname, "gobuild");

/** The versions pinned in `gobuild/go.mod`. */
export interface PinnedVersions {
  kubernetes: string;
  etcd: string;
}

/** Absolute paths of the two binaries, ready to run. */
export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  versions: PinnedVersions;
  source: "KUBEBUILDER_ASSETS" | "cache" | "built";
}

/** A binary could not be found, verified or built; the message says what to do. */
export class BinaryError extends Error {
  override name = "BinaryError";
}

/** Reads the pinned versions from `gobuild/go.mod`. */
export function pinnedVersions(): PinnedVersions {
  const mod = readFileSync(join(goModuleDir, "go.mod"), "utf8");
  const kubernetes = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(mod)?.[1];
  const etcd = /^\s*go\.etcd\.io\/etcd\/server\/v3\s+(v\S+)/m.exec(mod)?.[1];
  if (!kubernetes || !etcd) throw new BinaryError(`cannot read the pinned versions from ${goModuleDir}/go.mod`);
  return { kubernetes, etcd };
}

/** The folder that holds cached builds. */
export function cacheRoot(): string {
  return process.env.CHAKRATOR_CACHE ?? join(homedir(), ".cache", "chakrator");
}

const specs = [
  { key: "etcd", file: "etcd", pkg: "go.etcd.io/etcd/server/v3" },
  { key: "kubeApiserver", file: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver" },
] as const;

/** Runs `bin --version`; returns the first line, or undefined when it does not run. */
function probe(bin: string): string | undefined {
  if (!existsSync(bin)) return undefined;
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 20_000 });
  if (r.status !== 0) return undefined;
  return (r.stdout || r.stderr).split("\n")[0];
}

/**
 * Returns verified binaries, building missing ones (minutes on 2 cores; progress is
 * printed through `log`). Never rebuilds a binary that is cached and runs.
 */
export async function ensureBinaries(log: (line: string) => void = (l) => console.error(l)): Promise<ControlPlaneBinaries> {
  const versions = pinnedVersions();
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const out: Record<string, string> = {};
    for (const s of specs) {
      const bin = join(assets, s.file);
      if (!existsSync(bin)) throw new BinaryError(`KUBEBUILDER_ASSETS=${assets} has no ${s.file}: put it there, or unset KUBEBUILDER_ASSETS to build it into ${cacheRoot()}`);
      if (!probe(bin)) throw new BinaryError(`${bin} does not run (corrupt or wrong platform?): replace it, or unset KUBEBUILDER_ASSETS to build one into ${cacheRoot()}`);
      out[s.key] = bin;
    }
    return { etcd: out.etcd!, kubeApiserver: out.kubeApiserver!, versions, source: "KUBEBUILDER_ASSETS" };
  }

  const dir = join(cacheRoot(), "testenv", `kubernetes-${versions.kubernetes}-etcd-${versions.etcd}`);
  mkdirSync(dir, { recursive: true });
  let built = false;
  const out: Record<string, string> = {};
  for (const s of specs) {
    const bin = join(dir, s.file);
    if (existsSync(bin) && !probe(bin)) {
      log(`testenv: ${bin} does not run; rebuilding it`);
      rmSync(bin, { force: true });
    }
    if (!existsSync(bin)) {
      await goBuild(s.pkg, bin, versions, log);
      if (!probe(bin)) throw new BinaryError(`${bin} was built but does not run; remove ${dir} and try again`);
      built = true;
    }
    out[s.key] = bin;
  }
  return { etcd: out.etcd!, kubeApiserver: out.kubeApiserver!, versions, source: built ? "built" : "cache" };
}

async function goBuild(pkg: string, bin: string, v: PinnedVersions, log: (line: string) => void): Promise<void> {
  const go = spawnSync("go", ["version"], { encoding: "utf8" });
  if (go.status !== 0) {
    throw new BinaryError(`building ${pkg} needs the Go toolchain ('go' not found on PATH): install Go 1.24+ or set KUBEBUILDER_ASSETS to a folder with etcd and kube-apiserver`);
  }
  const minor = /^v1\.(\d+)\./.exec(v.kubernetes)?.[1] ?? "0";
  const ldflags = [
    "-s", "-w",
    `-X k8s.io/component-base/version.gitVersion=${v.kubernetes}`,
    "-X k8s.io/component-base/version.gitMajor=1",
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
  ].join(" ");
  const tmp = `${bin}.partial-${process.pid}`;
  const started = Date.now();
  log(`testenv: building ${pkg} (${pkg.includes("kubernetes") ? v.kubernetes : v.etcd}) with ${go.stdout.trim()}; first time only, several minutes on 2 cores`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn("go", ["build", "-trimpath", "-ldflags", ldflags, "-o", tmp, pkg], {
      cwd: goModuleDir,
      env: { ...process.env, GOFLAGS: "-mod=readonly -buildvcs=false" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    const tick = setInterval(() => log(`testenv: still building ${pkg} (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    child.on("error", (err) => { clearInterval(tick); reject(new BinaryError(`cannot run go build: ${err.message}`)); });
    child.on("exit", (code, signal) => {
      clearInterval(tick);
      if (code === 0) return resolve();
      rmSync(tmp, { force: true });
      reject(new BinaryError(`go build ${pkg} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
  renameSync(tmp, bin);
  log(`testenv: built ${bin} (${(statSync(bin).size / 2 ** 20).toFixed(0)} MiB) in ${Math.round((Date.now() - started) / 1000)} s`);
}
