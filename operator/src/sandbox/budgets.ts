/**
 * Budgets on what user code may push through the bridge.
 *
 * Per call (`CALL_BUDGET`): counted and cut inside the isolate by the prelude before
 * anything crosses, and counted again by the host as a backstop. Past a budget, log
 * and event calls are no-ops counted as dropped, and cache reads reject.
 *
 * Across calls (`TokenBucket`, used by fleet.ts): a log rate per reconciler, so that one
 * reconciler cannot flood stdout or the editor stream, and an Event budget per resource
 * that holds even when every message is unique (the recorder's aggregation cannot
 * catch those).
 */

/** Per-call bridge budget, shared by the prelude (inside the isolate) and the host. */
export const CALL_BUDGET = {
  logs: 1000,
  events: 100,
  reads: 1000,
  /** Log message, event JSON and thrown error message, in UTF-16 code units. */
  messageChars: 8 * 1024,
  /** Log fields as JSON. */
  fieldsChars: 32 * 1024,
  /** A thrown error's stack. */
  stackChars: 32 * 1024,
} as const;

/** Default log rate per reconciler (records per second, sustained) and burst. */
export const LOG_RATE = { perSecond: 100, burst: 1000 } as const;

/** Default Events per resource: a burst, then one every `refillMs`. */
export const EVENT_BUDGET = { burst: 25, refillMs: 12_000 } as const;

/** A token bucket over a monotonic clock; `take()` is false when empty. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(perSecond: number, burst: number, now: () => number = () => performance.now()) {
    this.perMs = perSecond / 1000;
    this.burst = burst;
    this.tokens = burst;
    this.now = now;
    this.last = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
