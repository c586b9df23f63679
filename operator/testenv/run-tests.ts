/**
 * `npm test`: the whole suite, in the order a failure is cheapest to find.
 *
 *   1. type-check (tsc, both tsconfigs);
 *   2. bundle the UI (the server and browser tests serve it);
 *   3. start one real control plane for the run (etcd + kube-apiserver on loopback);
 *   4. `node --test` over every `*.test.ts`, with the control plane's facts in the
 *      environment;
 *   5. stop the control plane — also when tests fail or the run is interrupted.
 *
 * Arguments are passed to `node --test` (e.g. a file list to run a subset).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, globSync } from "node:fs";
import { join } from "node:path";
import { ControlPlane } from "./controlplane.ts";
import { clusterEnv } from "./index.ts";

const root = join(import.meta.dirname, "..", "..");
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(`npm test needs Node.js 24 or newer (this is ${process.version}); see .nvmrc, or run .ci/run which fetches it`);
  process.exit(1);
}

function step(name: string, cmd: string, args: string[]): void {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`${name} failed (${r.signal ?? `exit ${r.status}`})`);
    process.exit(1);
  }
  console.error(`${name}: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
step("type-check operator", process.execPath, [tsc, "-p", "tsconfig.json"]);
if (existsSync(join(root, "ui", "tsconfig.json"))) step("type-check ui", process.execPath, [tsc, "-p", "ui/tsconfig.json"]);
if (existsSync(join(root, "ui", "build.ts"))) step("bundle ui", process.execPath, [join(root, "ui", "build.ts")]);

const started = Date.now();
const cp = await ControlPlane.start();
console.error(`control plane: ready at ${cp.info.server} in ${((Date.now() - started) / 1000).toFixed(1)} s (binaries: ${cp.binaries.source})`);

const files = process.argv.slice(2);
const tests = files.length > 0 ? files : globSync(["operator/**/*.test.ts", "ui/**/*.test.ts", "samples/**/*.test.ts", "manifests/**/*.test.ts"], { cwd: root })
  .filter((f) => !f.includes("node_modules"))
  .sort();
const child = spawn(process.execPath, ["--test", "--test-concurrency=3", "--test-reporter=spec", ...tests], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, [clusterEnv]: JSON.stringify(cp.info) },
});

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    interrupted = true;
    child.kill(sig);
  });
}
const code = await new Promise<number>((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
await cp.stop();
process.exit(interrupted ? 130 : code);
