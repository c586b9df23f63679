/**
 * SupervisedChild's heartbeat against a real child process: a slow start is judged by
 * the start timeout, not as a hang; a stuck main thread after ready is a hang.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { SupervisedChild, type ExitReason } from "./supervised.ts";

const fixture = fileURLToPath(new URL("./slow-start.fixture.ts", import.meta.url));

function start(slowStartMs: number, startTimeoutMs: number): { child: SupervisedChild<{ t: string }, { t: string }>; exit: Promise<ExitReason> } {
  process.env.SLOW_START_MS = String(slowStartMs);
  let exited: (reason: ExitReason) => void = () => {};
  const exit = new Promise<ExitReason>((resolve) => (exited = resolve));
  const child = new SupervisedChild<{ t: string }, { t: string }>({
    modulePath: fixture,
    startTimeoutMs,
    heartbeat: { intervalMs: 100, timeoutMs: 400 },
    onMessage: () => {},
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
