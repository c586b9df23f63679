/**
 * The work queue between event handlers and reconcile workers, modelled on client-go's
 * workqueue (Typed + Delaying + RateLimiting), with string keys ("namespace/name").
 *
 * Guarantees, as in client-go:
 * - A key waits at most once: adding a key that is already waiting does nothing.
 * - A key is handed to at most one worker at a time. Adding a key while a worker holds
 *   it marks it dirty; `done(key)` then puts it back, so no update is lost and a key's
 *   reconciles never overlap.
 * - Keys are handed out in FIFO order of their (first) add.
 * - Delayed adds share one timer over a min-heap of deadlines; for a key already
 *   delayed, the earlier deadline wins.
 * - `addRateLimited` delays by the larger of a per-key exponential backoff
 *   (base * 2^failures, capped; client-go's ItemExponentialFailureRateLimiter, 5 ms to
 *   1000 s) and an overall token bucket (10 qps, burst 100), as client-go's
 *   DefaultControllerRateLimiter (a MaxOfRateLimiter) does. The bucket only throttles
 *   rate-limited re-adds, never plain adds.
 *
 * Where this differs from client-go, on purpose: after `shutDown()` the keys still
 * waiting are dropped and `get()` resolves `undefined` at once, instead of handing out
 * what was queued. Reconciliation is level-based, so a key dropped here is picked up by
 * the next relist (or the next leader); a stopping operator should not start new work.
 *
 * Time comes from an injectable `QueueClock` (milliseconds, monotonic) so tests run on
 * a fake clock and never sleep.
 */

/** The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

/** Milliseconds-based clock and one-shot timers; `now()` must never go backwards. */
export interface QueueClock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

/**
 * Hooks the queue calls so a metrics registry can observe it without this module
 * importing one. Called synchronously; they must be cheap and must not throw (a throw
 * propagates into the queue operation that triggered it).
 */
export interface QueueMetrics {
  /** Keys waiting (including ones dirty while a worker holds them), after each change. */
  depth(value: number): void;
  /** A key was accepted by `add` (duplicates of a waiting key are not counted). */
  added(): void;
  /** Seconds from a key's first `add` to the `get` that handed it out. */
  queueWait(seconds: number): void;
  /** Seconds from `get` to `done` for one key. */
  workDuration(seconds: number): void;
  /** `addRateLimited` was called (a retry). */
  retried(): void;
}

/**
 * Gives each work queue its own metrics, as client-go's workqueue `MetricsProvider`
 * does: whoever builds a queue asks once, naming the reconciler it serves, and passes
 * the hooks to the queue, so every hook reaches its series with nothing in between.
 */
export interface QueueMetricsProvider {
  /** The hooks of the queue serving `reconciler` ("namespace/name"). */
  queue(reconciler: string): QueueMetrics;
}

/** Options of `WorkQueue`; every field has client-go's default. */
export interface WorkQueueOptions {
  /** First per-key backoff, in ms. Default 5. */
  baseDelayMs?: number;
  /** Cap of the per-key backoff, in ms. Default 1_000_000 (1000 s). */
  maxDelayMs?: number;
  /** Overall refill rate of the retry token bucket, tokens per second. Default 10; 0 or Infinity turns the bucket off. */
  qps?: number;
  /** Size of the retry token bucket. Default 100. */
  burst?: number;
  clock?: QueueClock;
  /** Hooks for one queue's metrics (`QueueMetricsProvider.queue`); none when undefined. */
  metrics?: QueueMetrics | undefined;
}

/** The real clock: `performance.now()` and unref'd timers (the queue never holds the process open by itself). */
export const systemClock: QueueClock = {
  now: () => performance.now(),
  setTimer: (callback, delayMs) => {
    // Node's timers hold 32-bit milliseconds: a longer delay would fire after 1 ms, and
    // then again every millisecond. Waking early is harmless: the heap re-arms the timer.
    const timer = setTimeout(callback, Math.min(delayMs, MAX_TIMER_MS));
    timer.unref();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Delayed {
  key: string;
  readyAt: number;
  /** Tie-break so keys with the same deadline come out in the order they were delayed. */
  order: number;
  index: number;
}

/**
 * A de-duplicating, delaying, rate-limiting work queue of string keys.
 * Methods never throw; after shutdown, adds are ignored and `get()` resolves `undefined`.
 */
export class WorkQueue {
  private readonly clock: QueueClock;
  private readonly metrics: QueueMetrics | undefined;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  /** Keys ready to hand out, FIFO. A Set keeps insertion order and gives O(1) removal of the head. */
  private readonly queue = new Set<string>();
  /** Keys that need processing: waiting in `queue`, or added again while held by a worker. */
  private readonly dirty = new Set<string>();
  /** Keys held by a worker, between `get` and `done`. */
  private readonly processing = new Map<string, number>();
  /** When each dirty key was first added, for the queue-wait metric. */
  private readonly addedAt = new Map<string, number>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly drainers: Array<() => void> = [];
  private shuttingDown = false;

  private readonly heap: Delayed[] = [];
  private readonly delayed = new Map<string, Delayed>();
  private delayOrder = 0;
  private timer: unknown;
  private timerAt: number | undefined;

  private readonly failures = new Map<string, number>();
  private readonly bucket: TokenBucket;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics;
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    this.bucket = new TokenBucket(options.qps ?? 10, options.burst ?? 100, this.clock.now());
  }

  /** Queues `key` unless it is already waiting; a key held by a worker is re-queued at its `done`. Ignored after shutdown. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.clock.now());
    this.metrics?.added();
    this.metrics?.depth(this.dirty.size);
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /**
   * Resolves with the next key, which the caller then holds until it calls `done(key)`;
   * waits while the queue is empty. Resolves `undefined` once the queue is shut down.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.takeHead();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends the worker's hold on `key`; re-queues it if it was added meanwhile. A key not held is ignored. */
  done(key: string): void {
    const startedAt = this.processing.get(key);
    if (startedAt === undefined) return;
    this.processing.delete(key);
    this.metrics?.workDuration((this.clock.now() - startedAt) / 1000);
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
    if (this.processing.size === 0) this.releaseDrainers();
  }

  /** Adds `key` after `delayMs` (at once if <= 0). If the key is already delayed, the earlier deadline wins. Ignored after shutdown. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing !== undefined) {
      if (readyAt >= existing.readyAt) return;
      existing.readyAt = readyAt;
      this.siftUp(existing.index);
    } else {
      const entry: Delayed = { key, readyAt, order: this.delayOrder++, index: this.heap.length };
      this.heap.push(entry);
      this.delayed.set(key, entry);
      this.siftUp(entry.index);
    }
    this.armTimer();
  }

  /**
   * Adds `key` after its backoff: the larger of the per-key exponential delay
   * (base * 2^retries, capped) and the overall token bucket's delay. Counts a retry.
   */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const itemDelay = Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
    const bucketDelay = this.bucket.reserve(this.clock.now());
    this.metrics?.retried();
    this.addAfter(key, Math.max(itemDelay, bucketDelay));
  }

  /** Clears `key`'s backoff (call after a success). Does not remove a pending delayed add. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times `key` was rate-limited since its last `forget`. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys ready to hand out now (not counting delayed keys, nor dirty keys a worker still holds). */
  len(): number {
    return this.queue.size;
  }

  /** True once `shutDown` or `shutDownWithDrain` was called. */
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops the queue: drops waiting and delayed keys, ignores later adds, and resolves all pending and later `get()`s with `undefined`. Idempotent. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
    this.heap.length = 0;
    this.delayed.clear();
    this.queue.clear();
    // Keys held by workers stay in `processing` until their `done`, for the drain.
    this.dirty.clear();
    this.addedAt.clear();
    this.metrics?.depth(0);
    for (const resolve of this.getters.splice(0)) resolve(undefined);
    if (this.processing.size === 0) this.releaseDrainers();
  }

  /**
   * `shutDown()`, then resolves once every key handed out has been `done`. Never rejects;
   * it waits as long as a worker holds a key, so callers that need a bound race it with a timer.
   */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  private enqueue(key: string): void {
    const getter = this.getters.shift();
    if (getter === undefined) {
      this.queue.add(key);
      return;
    }
    // Hand over synchronously so the key is marked as held before anyone else can look.
    this.markProcessing(key);
    getter(key);
  }

  private takeHead(): string | undefined {
    const first = this.queue.values().next();
    if (first.done) return undefined;
    this.queue.delete(first.value);
    this.markProcessing(first.value);
    return first.value;
  }

  private markProcessing(key: string): void {
    const now = this.clock.now();
    this.dirty.delete(key);
    this.processing.set(key, now);
    const addedAt = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (addedAt !== undefined) this.metrics?.queueWait((now - addedAt) / 1000);
    this.metrics?.depth(this.dirty.size);
  }

  private releaseDrainers(): void {
    for (const resolve of this.drainers.splice(0)) resolve();
  }

  // ---- delayed adds: one timer armed for the earliest deadline of a min-heap ----

  private armTimer(): void {
    const head = this.heap[0];
    if (head === undefined) {
      if (this.timer !== undefined) this.clock.clearTimer(this.timer);
      this.timer = undefined;
      this.timerAt = undefined;
      return;
    }
    if (this.timerAt === head.readyAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = head.readyAt;
    this.timer = this.clock.setTimer(() => this.onTimer(), Math.max(0, head.readyAt - this.clock.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = undefined;
    if (this.shuttingDown) return;
    const now = this.clock.now();
    for (let head = this.heap[0]; head !== undefined && head.readyAt <= now; head = this.heap[0]) {
      this.popHeap();
      this.delayed.delete(head.key);
      this.add(head.key);
    }
    // A real timer may fire a hair before `now()` reaches the deadline; re-arming covers that.
    this.armTimer();
  }

  private less(a: Delayed, b: Delayed): boolean {
    return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.order < b.order);
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    b.index = i;
    a.index = j;
  }

  private siftUp(index: number): void {
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.less(this.heap[index]!, this.heap[parent]!)) break;
      this.swap(index, parent);
      index = parent;
    }
  }

  private popHeap(): void {
    const last = this.heap.length - 1;
    this.swap(0, last);
    this.heap.pop();
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < this.heap.length && this.less(this.heap[left]!, this.heap[smallest]!)) smallest = left;
      if (right < this.heap.length && this.less(this.heap[right]!, this.heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      this.swap(index, smallest);
      index = smallest;
    }
  }
}

/**
 * golang.org/x/time/rate's reservation model, which client-go's BucketRateLimiter uses:
 * tokens refill at `qps` up to `burst`; each reservation takes one token at once, going
 * negative when empty, and the returned delay is how long until that token exists.
 */
class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly qps: number;
  private readonly burst: number;

  constructor(qps: number, burst: number, now: number) {
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; returns the wait in ms before it may be used (0 when one was there). */
  reserve(now: number): number {
    if (!(this.qps > 0) || !Number.isFinite(this.qps)) return 0;
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
      this.last = now;
    }
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}
