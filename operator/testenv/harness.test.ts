// The test harness itself under bad input: missing or corrupt binaries, a port in use,
// an API server that cannot start, and a test runner killed with -9. Each gives one
// clear error (never a hang) and leaves no process or temporary folder behind.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BinaryError, ensureBinaries } from "./binaries.ts";
import { ControlPlane, ControlPlaneError, freePort } from "./controlplane.ts";
import { eventually } from "./index.ts";

const ourDirs = () => new Set(readdirSync(tmpdir()).filter((d) => d.startsWith("chakrator-testenv-")));
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** Runs `fn` with KUBEBUILDER_ASSETS set to `dir`, restoring the old value after. */
async function withAssets<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const old = process.env.KUBEBUILDER_ASSETS;
  process.env.KUBEBUILDER_ASSETS = dir;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.KUBEBUILDER_ASSETS;
    else process.env.KUBEBUILDER_ASSETS = old;
  }
}

describe("test harness under bad input", () => {
  it("names a missing binary in KUBEBUILDER_ASSETS and says what to do", async () => {
    const dir = mkdtempSync(join(tmpdir(), "assets-"));
    try {
      await withAssets(dir, () => assert.rejects(ensureBinaries(() => {}), (err: unknown) =>
        err instanceof BinaryError && /has no etcd: put it there, or unset KUBEBUILDER_ASSETS/.test(err.message)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a corrupt binary in KUBEBUILDER_ASSETS with one clear error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "assets-"));
    try {
      for (const name of ["etcd", "kube-apiserver"]) {
        writeFileSync(join(dir, name), "this is not a program\n");
        chmodSync(join(dir, name), 0o755);
      }
      await withAssets(dir, () => assert.rejects(ControlPlane.start({ log: () => {} }), (err: unknown) =>
        err instanceof BinaryError && /etcd does not run \(corrupt or wrong platform\?\)/.test(err.message) && !err.message.includes("\n")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a port already in use, and leaves nothing behind", async () => {
    const blocker = createServer();
    const taken = await freePort();
    await new Promise<void>((r) => blocker.listen(taken, "127.0.0.1", r));
    let dir: string | undefined;
    try {
      await assert.rejects(
        ControlPlane.start({ log: () => {}, ports: { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: taken } }),
        (err: unknown) => { dir = (err as ControlPlaneError).dir; return err instanceof ControlPlaneError && /could not listen.*address already in use.*choose other ports/s.test(err.message); },
      );
    } finally {
      blocker.close();
    }
    assert.ok(dir && !existsSync(dir), `its temporary folder ${dir} was removed`);
  });

  it("reports an API server that cannot start with the end of its log, and leaves nothing behind", async () => {
    let dir: string | undefined;
    await assert.rejects(
      ControlPlane.start({ log: () => {}, apiserverArgs: ["--no-such-flag=1"] }),
      (err: unknown) => { dir = (err as ControlPlaneError).dir; return err instanceof ControlPlaneError && /kube-apiserver exited during start-up/.test(err.message) && /no-such-flag/.test(err.message); },
    );
    assert.ok(dir && !existsSync(dir), `its temporary folder ${dir} was removed`);
  });

  it("cleans up after a test runner killed with -9 (the reaper)", async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", `
      import { ControlPlane } from ${JSON.stringify(join(import.meta.dirname, "controlplane.ts"))};
      const cp = await ControlPlane.start({ log: () => {} });
      console.log(JSON.stringify(cp.info));
      setInterval(() => {}, 1000);
    `], { stdio: ["ignore", "pipe", "inherit"] });
    const info = await new Promise<{ etcdPid: number; apiserverPid: number; dir: string }>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => { out += d.toString(); if (out.includes("\n")) resolve(JSON.parse(out)); });
      child.on("exit", () => reject(new Error(`control plane child exited: ${out}`)));
    });
    assert.ok(alive(info.etcdPid) && alive(info.apiserverPid));
    child.kill("SIGKILL");
    await eventually(() => !alive(info.etcdPid) && !alive(info.apiserverPid), 15_000, "etcd and kube-apiserver killed by the reaper");
    await eventually(() => !ourDirs().has(info.dir.split("/").at(-1)!), 15_000, "temporary folder removed");
    assert.equal(existsSync(info.dir), false);
  });
});
