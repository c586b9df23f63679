/**
 * SupervisedChild's heartbeat against a real child process: a slow start is judged by
 * the start timeout, not as a hang; a stuck main thread after ready is a hang.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { spawn, spawnSync } from "node:child_process";
import { SupervisedChild, type ExitReason } from "./supervised.ts";

const fixture = fileURLToPath(new URL("./slow-start.fixture.ts", import.meta.url));

type Message = { t: string; wallMs?: number };

function start(slowStartMs: number, startTimeoutMs: number, onMessage: (m: Message) => void = () => {}): { child: SupervisedChild<{ t: string; cpuMs?: number }, Message>; exit: Promise<ExitReason> } {
  process.env.SLOW_START_MS = String(slowStartMs);
  let exited: (reason: ExitReason) => void = () => {};
  const exit = new Promise<ExitReason>((resolve) => (exited = resolve));
  const child = new SupervisedChild<{ t: string; cpuMs?: number }, Message>({
    modulePath: fixture,
    startTimeoutMs,
    heartbeat: { intervalMs: 100, timeoutMs: 400 },
    onMessage,
    onExit: exited,
  });
  delete process.env.SLOW_START_MS;
  return { child, exit };
}

test("a child that boots for longer than the heartbeat timeout is not killed as hung; it becomes ready and stays", async () => {
  const { child, exit } = start(1500, 10_000);
  await child.ready;
  // Several heartbeat timeouts after ready, it is still there: it answers.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(child.exited, false);
  // Once its main thread stops, the heartbeat finds it hung.
  child.send({ t: "stall" });
  const reason = await exit;
  assert.equal(reason.kind, "hung");
});

test("a child that does not say ready within the start timeout is killed, and ready says why", async () => {
  const { child, exit } = start(5000, 800);
  await assert.rejects(child.ready, /did not start within 800 ms/);
  assert.equal((await exit).kind, "killed");
});

test("a child starved of CPU (niced, sharing one CPU with busy processes) is not hung: runnable, it has not used the timeout in CPU", async () => {
  // Three busy processes and the child on CPU 0; the child at niceness 19 gets about 0.5% of it.
  const hogs = Array.from({ length: 3 }, () => spawn("taskset", ["-c", "0", process.execPath, "-e", "for (;;) {}"], { stdio: "ignore" }));
  let worked: (wallMs: number) => void = () => {};
  const done = new Promise<number>((resolve) => (worked = resolve));
  const { child, exit } = start(0, 10_000, (m) => { if (m.t === "worked") worked(m.wallMs ?? 0); });
  try {
    await child.ready;
    assert.equal(spawnSync("taskset", ["-a", "-p", "-c", "0", String(child.pid)]).status, 0);
    child.renice(19);
    // 15 ms of CPU on the main thread: seconds of wall time on the starved CPU, with no ping answered.
    child.send({ t: "work", cpuMs: 15 });
    const wallMs = await Promise.race([done, exit.then((r) => { throw new Error(`killed: ${JSON.stringify(r)}`); })]);
    assert.ok(wallMs > 400, `the work took ${wallMs} ms of wall time: longer than the heartbeat timeout, or the test shows nothing`);
    assert.equal(child.exited, false);
  } finally {
    for (const hog of hogs) hog.kill("SIGKILL");
    child.kill();
  }
});
