/** The host as a fault boundary: killed, stopped or closed, the operator side carries on. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { bystander, eventLog, fakeBridge, hostileRevision, resource } from "./fixtures.ts";
import { Sandbox, SandboxCrashedError, SandboxUsageError } from "./index.ts";

test("kill -9 of the host mid-call fails that call, a new host starts with the revisions reloaded", async () => {
  const log = eventLog();
  const sandbox = await Sandbox.start({ onEvent: log.onEvent });
  try {
    await sandbox.load(bystander);
    await sandbox.load(hostileRevision("victim", "await ctx.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 'x');", { timeoutMs: 10_000 }));
    const firstPid = sandbox.hostPid;
    assert.ok(firstPid !== undefined);
    let entered: () => void = () => {};
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const bridge = { ...fakeBridge(), get: () => { entered(); return new Promise<undefined>(() => {}); } };
    const call = sandbox.call("victim", "reconcile", resource("hostile"), bridge);
    await inside;
    process.kill(firstPid, "SIGKILL");
    await assert.rejects(call, SandboxCrashedError);
    // Calls made while the host restarts wait for it, then run on the new host.
    assert.deepEqual(await sandbox.call("victim", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
    assert.deepEqual(await sandbox.call("bystander", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
    assert.ok(sandbox.hostPid !== undefined && sandbox.hostPid !== firstPid);
    assert.ok(log.events.some((e) => e.type === "host-exited" && e.pid === firstPid && e.signal === "SIGKILL" && e.failedCalls === 1));
    assert.equal(log.count("host-started"), 2);
  } finally {
    await sandbox.close();
  }
});

test("a host that stops answering is killed by the backstop and replaced", async () => {
  const log = eventLog();
  const sandbox = await Sandbox.start({ onEvent: log.onEvent });
  try {
    await sandbox.load(hostileRevision("frozen", "", { timeoutMs: 100 }));
    const pid = sandbox.hostPid;
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGSTOP");
    const started = Date.now();
    await assert.rejects(sandbox.call("frozen", "reconcile", resource(), fakeBridge()), SandboxCrashedError);
    const waited = Date.now() - started;
    assert.ok(waited >= 2000 && waited < 5000, `backstop after 2 x 100 ms + 2 s, took ${waited} ms`);
    assert.ok(log.events.some((e) => e.type === "host-unresponsive" && e.pid === pid));
    assert.deepEqual(await sandbox.call("frozen", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
    assert.notEqual(sandbox.hostPid, pid);
  } finally {
    await sandbox.close();
  }
});

test("a host that keeps dying is restarted lazily, by the next call, with growing delays", async () => {
  const log = eventLog();
  const sandbox = await Sandbox.start({ onEvent: log.onEvent });
  try {
    await sandbox.load(hostileRevision("survivor", ""));
    for (let round = 0; round < 3; round++) {
      const pid = sandbox.hostPid;
      assert.ok(pid !== undefined);
      process.kill(pid, "SIGKILL");
      while (log.count("host-exited") <= round) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(sandbox.hostPid, undefined, "no host is started before something needs it");
      assert.deepEqual(await sandbox.call("survivor", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
      assert.ok(sandbox.hostPid !== undefined && sandbox.hostPid !== pid);
    }
    const delays = log.events.flatMap((e) => (e.type === "host-restart-scheduled" ? [e.delayMs] : []));
    assert.deepEqual(delays, [0, 250, 500]);
  } finally {
    await sandbox.close();
  }
});

test("close stops the host and fails what is pending", async () => {
  const sandbox = await Sandbox.start();
  await sandbox.load(hostileRevision("pending", "await new Promise(() => {});", { timeoutMs: 10_000 }));
  const pid = sandbox.hostPid;
  assert.ok(pid !== undefined);
  const call = sandbox.call("pending", "reconcile", resource("hostile"), fakeBridge());
  const failed = assert.rejects(call, SandboxUsageError);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await sandbox.close();
  await failed;
  assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
  await assert.rejects(sandbox.load(hostileRevision("late", "")), SandboxUsageError);
});
