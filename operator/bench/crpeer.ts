/**
 * The controller-runtime peer (crpeer/main.go) for the benchmarks: builds it once with
 * the Go toolchain from the pinned modules in crpeer/go.mod + go.sum (as
 * testenv/binaries.ts builds the control plane), caches the binary under
 * `$CHAKRATOR_CACHE/bench/crpeer-<hash of its sources>/` (so an edit rebuilds), and
 * starts it as a child process.
 *
 * The build writes to a temporary name and renames, prints progress every 30 s, and a
 * cached binary is checked by running it with `--version`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot } from "../testenv/binaries.ts";

const sourceDir = join(import.meta.dirname, "crpeer");

export type PeerMode = "defaults" | "filtered";

function runs(bin: string): boolean {
  return existsSync(bin) && spawnSync(bin, ["--version"], { timeout: 20_000 }).status === 0;
}

/** Path of the peer binary, built if missing (about 15 s with a warm Go cache, minutes cold). */
export async function ensurePeer(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  const hash = createHash("sha256");
  for (const f of ["go.mod", "go.sum", "main.go"]) hash.update(readFileSync(join(sourceDir, f)));
  const dir = join(cacheRoot(), "bench", `crpeer-${hash.digest("hex").slice(0, 12)}`);
  const bin = join(dir, "crpeer");
  if (runs(bin)) return bin;
  if (spawnSync("go", ["version"]).status !== 0) throw new Error("the controller-runtime peer needs the Go toolchain ('go' not found on PATH)");
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.partial-${process.pid}`;
  const started = Date.now();
  log(`crpeer: building the controller-runtime peer (${sourceDir}); once per source change`);
  await new Promise<void>((resolve, reject) => {
    // -mod=readonly: the module versions are the ones go.mod and go.sum pin.
    const child = spawn("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", tmp, "."], {
      cwd: sourceDir,
      env: { ...process.env, GOFLAGS: "-mod=readonly -buildvcs=false" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    const tick = setInterval(() => log(`crpeer: still building (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    child.on("error", (err) => { clearInterval(tick); reject(new Error(`cannot run go build: ${err.message}`)); });
    child.on("exit", (code, signal) => {
      clearInterval(tick);
      if (code === 0) return resolve();
      rmSync(tmp, { force: true });
      reject(new Error(`go build of the peer failed (${signal ?? `exit ${code}`}): ${stderr.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
  renameSync(tmp, bin);
  if (!runs(bin)) throw new Error(`${bin} was built but does not run; remove ${dir} and try again`);
  log(`crpeer: built ${bin} (${(statSync(bin).size / 2 ** 20).toFixed(0)} MiB) in ${Math.round((Date.now() - started) / 1000)} s`);
  return bin;
}

export interface PeerOptions {
  kubeconfig: string;
  namespace: string;
  mode: PeerMode;
  workers: number;
  metricsPort: number;
}

/** A running peer; `metric(name)` sums a series from its /metrics. */
export interface Peer {
  process: ChildProcess;
  metric(name: string): Promise<number>;
  stop(): Promise<void>;
}

export function startPeer(bin: string, o: PeerOptions): Peer {
  const child = spawn(bin, [`--namespace=${o.namespace}`, `--mode=${o.mode}`, `--workers=${o.workers}`, `--metrics-addr=127.0.0.1:${o.metricsPort}`], {
    env: { ...process.env, KUBECONFIG: o.kubeconfig },
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Its log is JSON lines at info level; only errors are worth showing.
  child.stderr!.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n")) if (line.includes('"level":"error"')) console.error(`crpeer: ${line}`);
  });
  killOnExit(child);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    process: child,
    metric: (name) => scrape(`http://127.0.0.1:${o.metricsPort}/metrics`, name),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

const contenders = new Set<ChildProcess>();
let hooked = false;
/**
 * Kills `child` when the benchmark exits, also on Ctrl-C or SIGTERM (which otherwise end
 * Node without 'exit' handlers and would orphan a contender, whose own children its
 * reaper then ends).
 */
export function killOnExit(child: ChildProcess): void {
  contenders.add(child);
  child.once("exit", () => contenders.delete(child));
  if (hooked) return;
  hooked = true;
  process.once("exit", () => { for (const c of contenders) c.kill("SIGKILL"); });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
}

/** Sums the samples of one metric family from a Prometheus text endpoint (0 when unreachable). */
export async function scrape(url: string, name: string): Promise<number> {
  const text = await fetch(url).then((r) => r.text(), () => "");
  return text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`)).reduce((a, l) => a + Number(l.split(" ").at(-1)), 0);
}
