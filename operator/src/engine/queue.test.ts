/** WorkQueue: client-go's workqueue guarantees, on a fake clock (no test sleeps). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { WorkQueue, type QueueClock, type QueueMetrics, type QueueMetricsProvider } from "./queue.ts";
import { createOperatorMetrics, Registry } from "../telemetry/metrics.ts";

/** A manual clock: timers fire only inside `advance`, in deadline order. */
class FakeClock implements QueueClock {
  time = 1_000;
  private nextId = 0;
  readonly timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.time;
  }
  setTimer(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + delayMs, callback });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = target;
  }
}

/** Takes every key ready now, marking each done. */
async function drainReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = await queue.get();
    assert.ok(key !== undefined);
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

test("add de-duplicates a waiting key and keeps FIFO order", async () => {
  const queue = new WorkQueue({ clock: new FakeClock() });
  queue.add("a");
  queue.add("b");
  queue.add("a");
  assert.equal(queue.len(), 2);
  assert.deepEqual(await drainReady(queue), ["a", "b"]);
});

test("a key added while held is re-queued at done, once, and not handed out before", async () => {
  const queue = new WorkQueue({ clock: new FakeClock() });
  queue.add("a");
  const key = await queue.get();
  assert.equal(key, "a");
  queue.add("a");
  queue.add("a");
  assert.equal(queue.len(), 0, "a held key is not handed out again before done");
  queue.done("a");
  assert.equal(queue.len(), 1);
  assert.deepEqual(await drainReady(queue), ["a"]);
  queue.done("a"); // a second done for a key not held is ignored
  assert.equal(queue.len(), 0);
});

test("several consumers never hold the same key at once and no add is lost", async () => {
  const queue = new WorkQueue({ clock: new FakeClock() });
  const held = new Set<string>();
  const processed = new Map<string, number>();
  let overlaps = 0;
  const keys = ["a", "b", "c"];
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      if (held.has(key)) overlaps++;
      held.add(key);
      // Adds arrive while this key is held; they must not reach another worker.
      queue.add(key);
      queue.add(keys[(keys.indexOf(key) + 1) % keys.length]!);
      for (let i = 0; i < 3; i++) await Promise.resolve();
      held.delete(key);
      processed.set(key, (processed.get(key) ?? 0) + 1);
      queue.done(key);
      if ([...processed.values()].reduce((a, b) => a + b, 0) >= 60) queue.shutDown();
    }
  };
  for (const key of keys) queue.add(key);
  await Promise.all([worker(), worker(), worker(), worker()]);
  assert.equal(overlaps, 0);
  for (const key of keys) assert.ok((processed.get(key) ?? 0) > 5, `${key} kept being processed`);
});

test("a getter waiting on an empty queue gets the next add", async () => {
  const queue = new WorkQueue({ clock: new FakeClock() });
  const pending = queue.get();
  queue.add("x");
  assert.equal(await pending, "x");
  assert.equal(queue.len(), 0);
});

test("addRateLimited backs off 5, 10, 20 ms ... capped at 1000 s, and forget resets", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, qps: 0 });
  const expected: number[] = [];
  for (let n = 0; n < 22; n++) expected.push(Math.min(5 * 2 ** n, 1_000_000));
  assert.deepEqual(expected.slice(0, 4), [5, 10, 20, 40]);
  assert.equal(expected.at(-1), 1_000_000);
  for (const delay of expected) {
    queue.addRateLimited("k");
    clock.advance(delay - 1);
    assert.equal(queue.len(), 0, `not ready before ${delay} ms`);
    clock.advance(1);
    assert.deepEqual(await drainReady(queue), ["k"], `ready at ${delay} ms`);
  }
  assert.equal(queue.retries("k"), 22);
  queue.forget("k");
  assert.equal(queue.retries("k"), 0);
  queue.addRateLimited("k");
  clock.advance(5);
  assert.deepEqual(await drainReady(queue), ["k"]);
});

test("backoff is per key, and the token bucket throttles retries overall", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, qps: 10, burst: 2 });
  queue.addRateLimited("a"); // token 1: item delay 5 ms
  queue.addRateLimited("b"); // token 2: item delay 5 ms
  queue.addRateLimited("c"); // bucket empty: next token in 100 ms
  clock.advance(5);
  assert.deepEqual(await drainReady(queue), ["a", "b"]);
  clock.advance(94);
  assert.equal(queue.len(), 0);
  clock.advance(1);
  assert.deepEqual(await drainReady(queue), ["c"]);
  // Plain adds are never throttled by the bucket.
  queue.add("d");
  assert.deepEqual(await drainReady(queue), ["d"]);
});

test("addAfter releases keys in deadline order, with one timer, and the earliest deadline wins", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock });
  queue.addAfter("late", 300);
  queue.addAfter("early", 100);
  queue.addAfter("mid", 200);
  queue.addAfter("early", 250); // later deadline for a delayed key: ignored
  queue.addAfter("late", 50); // earlier deadline: wins
  assert.equal(clock.timers.size, 1, "one timer for all delayed keys");
  clock.advance(50);
  assert.deepEqual(await drainReady(queue), ["late"]);
  clock.advance(50);
  assert.deepEqual(await drainReady(queue), ["early"]);
  clock.advance(100);
  assert.deepEqual(await drainReady(queue), ["mid"]);
  clock.advance(1_000);
  assert.equal(queue.len(), 0);
  assert.equal(clock.timers.size, 0);
  queue.addAfter("now", 0);
  assert.equal(queue.len(), 1, "a non-positive delay adds at once");
});

test("keys with the same deadline come out in the order they were delayed", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock });
  for (const key of ["c", "a", "d", "b"]) queue.addAfter(key, 10);
  clock.advance(10);
  assert.deepEqual(await drainReady(queue), ["c", "a", "d", "b"]);
});

test("shutDown releases waiting getters, drops waiting and delayed keys, and ignores adds", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock });
  const waiting = [queue.get(), queue.get()];
  queue.shutDown();
  assert.deepEqual(await Promise.all(waiting), [undefined, undefined]);
  queue.add("a");
  queue.addAfter("b", 10);
  queue.addRateLimited("c");
  clock.advance(1_000);
  assert.equal(queue.len(), 0);
  assert.equal(await queue.get(), undefined);
  assert.equal(queue.isShuttingDown, true);
  assert.equal(clock.timers.size, 0);
});

test("shutDownWithDrain waits until every held key is done", async () => {
  const queue = new WorkQueue({ clock: new FakeClock() });
  queue.add("a");
  queue.add("b");
  queue.add("c");
  const a = await queue.get();
  const b = await queue.get();
  assert.ok(a !== undefined && b !== undefined);
  queue.add("a"); // dirty while held: dropped by the shutdown, not re-queued
  let drained = false;
  const drain = queue.shutDownWithDrain().then(() => (drained = true));
  assert.equal(await queue.get(), undefined, "no new work after shutdown, even though c was waiting");
  queue.done(a);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(drained, false);
  queue.done(b);
  await drain;
  assert.equal(drained, true);
  assert.equal(queue.len(), 0);
  await queue.shutDownWithDrain(); // idempotent, resolves at once with nothing held
});

test("metrics hooks see depth, adds, wait time, work duration and retries", async () => {
  const clock = new FakeClock();
  const seen = { depth: [] as number[], added: 0, wait: [] as number[], work: [] as number[], retried: 0 };
  const metrics: QueueMetrics = {
    depth: (value) => seen.depth.push(value),
    added: () => seen.added++,
    queueWait: (seconds) => seen.wait.push(seconds),
    workDuration: (seconds) => seen.work.push(seconds),
    retried: () => seen.retried++,
  };
  const queue = new WorkQueue({ clock, metrics });
  queue.add("a");
  queue.add("a");
  clock.advance(250);
  const key = await queue.get();
  assert.equal(key, "a");
  clock.advance(1_500);
  queue.done("a");
  queue.addRateLimited("a");
  clock.advance(5);
  assert.deepEqual(seen.depth, [1, 0, 1]);
  assert.equal(seen.added, 2);
  assert.deepEqual(seen.wait, [0.25]);
  assert.deepEqual(seen.work, [1.5]);
  assert.equal(seen.retried, 1);
});

test("the operator metrics are a QueueMetricsProvider", () => {
  // Compile-time check (tsc): telemetry's provider is structurally the queue's interface.
  const provider: QueueMetricsProvider = createOperatorMetrics(new Registry(), { processMetrics: false });
  const queue = new WorkQueue({ clock: new FakeClock(), metrics: provider.queue("ns/rec") });
  queue.add("a");
  assert.equal(queue.len(), 1);
});
