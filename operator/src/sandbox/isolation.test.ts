/**
 * One reconciler's code cannot slow or break another's (issue 10), at the sandbox
 * level: a host per reconciler, an RSS cap per host, quarantine, budgets counted
 * inside the isolate, and no host outliving the operator. The end-to-end version,
 * with real resources on the real API server, is engine/noisy-neighbour.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { eventLog, fakeBridge, hostileRevision, resource } from "./fixtures.ts";
import { HostMemoryLimitError, QuarantinedError, Sandbox, SandboxCrashedError, SandboxFleet } from "./index.ts";
import type { FleetEvent } from "./index.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("each reconciler's revisions run in a host of their own; killing one leaves the other's pid and calls alone", async () => {
  const fleet = new SandboxFleet();
  try {
    await fleet.load({ ...hostileRevision("a@1", "await new Promise(() => {});", { timeoutMs: 10_000 }), host: "ns/a" });
    await fleet.load({ ...hostileRevision("b@1", ""), host: "ns/b" });
    const a = fleet.hostPid("ns/a");
    const b = fleet.hostPid("ns/b");
    assert.ok(a !== undefined && b !== undefined && a !== b);
    const stuck = fleet.call("a@1", "reconcile", resource("hostile"), fakeBridge());
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(a, "SIGKILL");
    await assert.rejects(stuck, SandboxCrashedError);
    for (let i = 1; i <= 5; i++) assert.deepEqual(await fleet.call("b@1", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: i } });
    assert.equal(fleet.hostPid("ns/b"), b, "b's host never restarted");
    assert.deepEqual(await fleet.call("a@1", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
    assert.notEqual(fleet.hostPid("ns/a"), a);
  } finally {
    await fleet.close();
  }
});

test("a host over its RSS cap is killed: the call fails with HostMemoryLimitError, the next call runs on a new host", async () => {
  const events: FleetEvent[] = [];
  const fleet = new SandboxFleet({ onEvent: (e) => events.push(e) });
  try {
    // 200 MiB of isolate heap is allowed, the host may use only 150 MiB: the host cap bites first.
    const grow = "const keep = []; for (let i = 0; i < 400; i++) keep.push(new Array(64 * 1024).fill(i)); return { status: { kept: keep.length } };";
    await fleet.load({ ...hostileRevision("fat@1", grow, { timeoutMs: 20_000, memoryMb: 200, hostMemoryMb: 150 }), host: "ns/fat" });
    const pid = fleet.hostPid("ns/fat")!;
    await assert.rejects(fleet.call("fat@1", "reconcile", resource("hostile"), fakeBridge()), (error: unknown) => {
      assert.ok(error instanceof HostMemoryLimitError, String(error));
      assert.equal(error.capMb, 150);
      assert.match(error.message, /over the host's limit of 150 MiB/);
      return true;
    });
    assert.ok(events.some((e) => e.type === "host-memory-limit" && e.host === "ns/fat" && e.pid === pid));
    assert.ok(!alive(pid));
    assert.deepEqual(await fleet.call("fat@1", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
  } finally {
    await fleet.close();
  }
});

test("a revision that crashes its host on every call is quarantined after 3 strikes; a new revision is not", async () => {
  const events: FleetEvent[] = [];
  const fleet = new SandboxFleet({ onEvent: (e) => events.push(e) });
  try {
    const grow = "const keep = []; for (;;) keep.push(new Array(64 * 1024).fill(1));";
    await fleet.load({ ...hostileRevision("crashy@1", grow, { timeoutMs: 20_000, memoryMb: 256, hostMemoryMb: 140 }), host: "ns/crashy" });
    for (let strike = 1; strike <= 3; strike++) {
      await assert.rejects(fleet.call("crashy@1", "reconcile", resource("hostile"), fakeBridge()), HostMemoryLimitError);
    }
    const quarantined = events.find((e) => e.type === "revision-quarantined");
    assert.ok(quarantined !== undefined && quarantined.type === "revision-quarantined" && quarantined.host === "ns/crashy");
    assert.equal(quarantined.count, 1);
    assert.equal(quarantined.durationMs, 60_000);
    const hostsBefore = events.filter((e) => e.type === "host-started").length;
    // Quarantined: refused at once, with the last cause, and no host is started for it.
    await assert.rejects(fleet.call("crashy@1", "reconcile", resource(), fakeBridge()), (error: unknown) => {
      assert.ok(error instanceof QuarantinedError);
      assert.match(error.message, /quarantined until .* over its limit of 140 MiB/);
      return true;
    });
    assert.equal(events.filter((e) => e.type === "host-started").length, hostsBefore);
    // The fix is a new revision: it starts clean, in the same reconciler's host.
    await fleet.load({ ...hostileRevision("crashy@2", "return { status: { fixed: true } };"), host: "ns/crashy" });
    await fleet.unload("crashy@1");
    assert.deepEqual(await fleet.call("crashy@2", "reconcile", resource("hostile"), fakeBridge()), { status: { fixed: true } });
  } finally {
    await fleet.close();
  }
});

test("after a quarantine, one call is let through: if it fails again, the next quarantine is twice as long", async () => {
  const events: FleetEvent[] = [];
  const fleet = new SandboxFleet({ onEvent: (e) => events.push(e), quarantineBaseMs: 500 });
  try {
    const grow = "const keep = []; for (;;) keep.push(new Array(64 * 1024).fill(1));";
    await fleet.load({ ...hostileRevision("again@1", grow, { timeoutMs: 20_000, memoryMb: 256, hostMemoryMb: 140 }), host: "ns/again" });
    for (let strike = 1; strike <= 3; strike++) await assert.rejects(fleet.call("again@1", "reconcile", resource("hostile"), fakeBridge()), HostMemoryLimitError);
    await assert.rejects(fleet.call("again@1", "reconcile", resource("hostile"), fakeBridge()), QuarantinedError);
    await new Promise((resolve) => setTimeout(resolve, 600));
    // Probation: this call runs, fails, and quarantines again at once, for twice as long.
    await assert.rejects(fleet.call("again@1", "reconcile", resource("hostile"), fakeBridge()), HostMemoryLimitError);
    await assert.rejects(fleet.call("again@1", "reconcile", resource("hostile"), fakeBridge()), QuarantinedError);
    const quarantines = events.flatMap((e) => (e.type === "revision-quarantined" ? [[e.count, e.durationMs]] : []));
    assert.deepEqual(quarantines, [[1, 500], [2, 1000]]);
    // A call that succeeds after the quarantine ends it for good.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.deepEqual(await fleet.call("again@1", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
  } finally {
    await fleet.close();
  }
});

test("a host whose call burns its whole time limit drops to the lowest CPU priority; the next revision gets a fresh host", async () => {
  const events: FleetEvent[] = [];
  const fleet = new SandboxFleet({ onEvent: (e) => events.push(e) });
  const niceness = (pid: number) => readdirSync(`/proc/${pid}/task`).map((t) => Number(readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8").split(") ")[1]!.split(" ")[16]));
  try {
    await fleet.load({ ...hostileRevision("burn@1", "for (;;) {}", { timeoutMs: 200 }), host: "ns/burn" });
    const pid = fleet.hostPid("ns/burn")!;
    assert.ok(niceness(pid).every((n) => n === 10), "hosts start below the operator's priority");
    await assert.rejects(fleet.call("burn@1", "reconcile", resource("hostile"), fakeBridge()), { name: "TimeoutError" });
    assert.ok(events.some((e) => e.type === "host-demoted" && e.pid === pid));
    assert.ok(niceness(pid).every((n) => n === 19), `demoted: ${niceness(pid).join(",")}`);
    // The fix: a new revision replaces the one that burnt; the demoted host is then replaced by one at the normal niceness.
    await fleet.load({ ...hostileRevision("burn@2", ""), host: "ns/burn" });
    assert.deepEqual(await fleet.call("burn@2", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
    assert.equal(fleet.hostPid("ns/burn"), pid, "loading the fix alone does not recycle the host");
    await fleet.unload("burn@1");
    assert.deepEqual(await fleet.call("burn@2", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } }, "module state starts over in the new host");
    const fresh = fleet.hostPid("ns/burn")!;
    assert.notEqual(fresh, pid);
    assert.ok(niceness(fresh).every((n) => n === 10));
  } finally {
    await fleet.close();
  }
});

test("bridge budgets are cut inside the isolate: a million ctx.log calls cost the host one dropped count", async () => {
  const events: FleetEvent[] = [];
  const fleet = new SandboxFleet({ onEvent: (e) => events.push(e) });
  try {
    const flood = "for (let i = 0; i < 1e6; i++) { ctx.log.info('x'.repeat(100000), { i }); ctx.event({ reason: 'Flood', message: 'unique ' + i }); } return { status: { done: true } };";
    await fleet.load({ ...hostileRevision("flood@1", flood, { timeoutMs: 20_000 }), host: "ns/flood" });
    const bridge = fakeBridge();
    assert.deepEqual(await fleet.call("flood@1", "reconcile", resource("hostile"), bridge), { status: { done: true } });
    // The per-call budget: 1000 records crossed, each message cut to 8 KiB inside the isolate.
    assert.equal(bridge.logs.length, 1000);
    assert.ok(bridge.logs.every((entry) => typeof entry[1] === "string" && entry[1].length <= 8 * 1024 + 1));
    // Events: the per-call budget (100) and then the per-resource budget (25) hold, unique messages or not.
    assert.equal(bridge.events.length, 25);
    const dropped = events.filter((e) => e.type === "log-dropped").reduce((n, e) => n + (e.type === "log-dropped" ? e.count : 0), 0);
    assert.equal(dropped, 1e6 - 1000 + 1e6 - 100);
  } finally {
    await fleet.close();
  }
});

test("the log rate limit holds across calls: one reconciler cannot flood, and says how much it dropped", async () => {
  const events: FleetEvent[] = [];
  const fleet = new SandboxFleet({ onEvent: (e) => events.push(e), logRate: { perSecond: 10, burst: 50 } });
  try {
    await fleet.load({ ...hostileRevision("chatty@1", "for (let i = 0; i < 100; i++) ctx.log.info('line ' + i);", { timeoutMs: 5_000 }), host: "ns/chatty" });
    const bridge = fakeBridge();
    for (let i = 0; i < 5; i++) await fleet.call("chatty@1", "reconcile", resource("hostile"), bridge);
    assert.ok(bridge.logs.length >= 50 && bridge.logs.length < 100, `burst of 50 plus a few refilled, got ${bridge.logs.length}`);
    const limited = events.find((e) => e.type === "log-rate-limited");
    assert.ok(limited !== undefined && limited.host === "ns/chatty");
  } finally {
    await fleet.close();
  }
});

test("requeueAfterSeconds: 1e12 is clamped to 24 h; a negative one is an InvalidResult", async () => {
  const sandbox = await Sandbox.start();
  try {
    await sandbox.load(hostileRevision("far", "return { requeueAfterSeconds: 1e12 };"));
    assert.deepEqual(await sandbox.call("far", "reconcile", resource("hostile"), fakeBridge()), { requeueAfterSeconds: 86_400 });
    await sandbox.load(hostileRevision("neg", "return { requeueAfterSeconds: -1 };"));
    await assert.rejects(sandbox.call("neg", "reconcile", resource("hostile"), fakeBridge()), /requeueAfterSeconds must be a number >= 0/);
    await sandbox.load(hostileRevision("nan", "return { requeueAfterSeconds: NaN };"));
    await assert.rejects(sandbox.call("nan", "reconcile", resource("hostile"), fakeBridge()), { name: "InvalidResultError" });
  } finally {
    await sandbox.close();
  }
});

test("a hung host (main thread stopped) is told apart from a busy call by its heartbeat", async () => {
  const log = eventLog();
  const sandbox = await Sandbox.start({ onEvent: log.onEvent, heartbeatTimeoutMs: 1000 });
  try {
    // Busy: a 2.5 s synchronous loop inside the isolate, longer than the heartbeat timeout; the host stays.
    await sandbox.load(hostileRevision("busy", "const end = Date.now() + 2500; while (Date.now() < end) {} return { status: { busy: true } };", { timeoutMs: 10_000 }));
    const pid = sandbox.hostPid!;
    assert.deepEqual(await sandbox.call("busy", "reconcile", resource("hostile"), fakeBridge()), { status: { busy: true } });
    assert.equal(sandbox.hostPid, pid, "a busy call is not a hang");
    assert.equal(log.count("host-unresponsive"), 0);
    // Hung: the host's main thread cannot answer at all.
    process.kill(pid, "SIGSTOP");
    while (log.count("host-exited") === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(log.events.some((e) => e.type === "host-unresponsive" && e.pid === pid));
    assert.ok(log.events.some((e) => e.type === "host-exited" && e.reason === "hung"));
    assert.ok(!alive(pid));
  } finally {
    await sandbox.close();
  }
});

test("no host outlives the operator: after kill -9 of its parent, a host too stopped to see the disconnect is reaped", async () => {
  const script = fileURLToPath(new URL("./isolation-parent.fixture.ts", import.meta.url));
  const parent = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = "";
    parent.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("pids "));
      if (line) resolve(line.slice(5).split(",").map(Number));
    });
    parent.once("exit", (code) => reject(new Error(`the parent exited early (${code})`)));
  });
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.ok(alive(pid));
  // Stopped, a host's main thread cannot run its disconnect handler: only the reaper can end it.
  process.kill(pids[0]!, "SIGSTOP");
  parent.kill("SIGKILL");
  const deadline = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(pids.filter(alive), [], "every host is gone");
});
