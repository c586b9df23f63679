/**
 * The editor's lane: validations and dry runs wait here, server-wide, so that editor
 * floods cannot pile up on the compiler or the editor's sandbox host (the compiler
 * also serves the operator's own revisions first: `{ lane: "editor" }`).
 *
 * Guarantees:
 * - At most `concurrency` (default 2) editor jobs run at once; the rest wait in one FIFO
 *   queue of at most `maxQueued` (default 16).
 * - One person has at most `maxPerPerson` (default 4) jobs waiting or running.
 * - A job with a `key` (a validation: person + reconciler) replaces the waiting job with
 *   the same key, which rejects with `SupersededError` (the route answers 409
 *   `Superseded`): only the newest text of a file is checked. A running job is never
 *   cut short.
 * - Over either cap, `run` rejects at once with `BusyError`, whose `retryAfterSeconds`
 *   estimates when a slot frees up (queue length × recent job time ÷ concurrency, 1–60 s);
 *   the route answers 429 with `Retry-After`. Nothing is buffered for a refused job.
 * - A job whose client went away (`signal`) while waiting leaves the queue.
 */
import type { Context } from "koa";
import type { Principal } from "./auth.ts";
import { ApiError } from "./errors.ts";

/** Tunables; see the module comment for the defaults. */
export interface EditorLaneOptions {
  concurrency?: number;
  maxQueued?: number;
  maxPerPerson?: number;
}

/** The lane is full; retry after `retryAfterSeconds`. */
export class BusyError extends Error {
  override name = "BusyError";
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A newer job with the same key replaced this one before it ran. */
export class SupersededError extends Error {
  override name = "SupersededError";
}

interface Waiting {
  person: string;
  key: string | undefined;
  start: () => void;
  reject: (err: Error) => void;
}

/** The lane; see the module comment. */
export class EditorLane {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #maxPerPerson: number;
  readonly #queue: Waiting[] = [];
  readonly #perPerson = new Map<string, number>();
  #running = 0;
  /** Recent job time (exponentially weighted), for Retry-After. */
  #jobMs = 250;

  constructor(options: EditorLaneOptions = {}) {
    this.#concurrency = Math.max(1, options.concurrency ?? 2);
    this.#maxQueued = Math.max(0, options.maxQueued ?? 16);
    this.#maxPerPerson = Math.max(1, options.maxPerPerson ?? 4);
  }

  /** Jobs running and waiting now. */
  get stats(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#queue.length };
  }

  /**
   * Runs `work` when a slot is free; see the module comment for `key`, the caps and
   * `signal`. Rejects with `BusyError` or `SupersededError` without running `work`.
   */
  run<T>(person: string, key: string | undefined, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (key !== undefined) {
      const i = this.#queue.findIndex((w) => w.key === key);
      if (i >= 0) {
        const [old] = this.#queue.splice(i, 1);
        this.#release(old!.person);
        old!.reject(new SupersededError("a newer validation of this file by you replaced this one"));
      }
    }
    const mine = this.#perPerson.get(person) ?? 0;
    if (mine >= this.#maxPerPerson) {
      return Promise.reject(new BusyError(`you have ${mine} validations or dry runs in progress (at most ${this.#maxPerPerson})`, this.#retryAfter()));
    }
    if (this.#running >= this.#concurrency && this.#queue.length >= this.#maxQueued) {
      return Promise.reject(new BusyError(`the editor's validation queue is full (${this.#queue.length} waiting)`, this.#retryAfter()));
    }
    this.#perPerson.set(person, mine + 1);
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        signal?.removeEventListener("abort", onAbort);
        this.#running++;
        const began = performance.now();
        void work().then(resolve, reject).finally(() => {
          this.#jobMs = this.#jobMs * 0.8 + (performance.now() - began) * 0.2;
          this.#running--;
          this.#release(person);
          this.#next();
        });
      };
      const entry: Waiting = { person, key, start, reject };
      const onAbort = () => {
        const i = this.#queue.indexOf(entry);
        if (i < 0) return;
        this.#queue.splice(i, 1);
        this.#release(person);
        reject(new SupersededError("the client went away"));
      };
      if (this.#running < this.#concurrency && this.#queue.length === 0) {
        start();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(entry);
    });
  }

  #release(person: string): void {
    const n = (this.#perPerson.get(person) ?? 1) - 1;
    if (n <= 0) this.#perPerson.delete(person);
    else this.#perPerson.set(person, n);
  }

  #next(): void {
    while (this.#running < this.#concurrency) {
      const w = this.#queue.shift();
      if (!w) return;
      w.start();
    }
  }

  #retryAfter(): number {
    const seconds = ((this.#queue.length + 1) * this.#jobMs) / this.#concurrency / 1000;
    return Math.min(60, Math.max(1, Math.ceil(seconds)));
  }
}

/** Who counts as one person in the lane: the username (or the token's hash), "local" with auth off. */
export function laneOwner(p: Principal): string {
  return p.username || p.tokenHash || "local";
}

/**
 * Runs `work` in `lane` for one HTTP request: a client that goes away aborts its wait,
 * a full lane is a 429 with Retry-After (`what` names the busy feature), a replaced job a 409.
 */
export async function inLane<T>(ctx: Context, lane: EditorLane, person: string, key: string | undefined, work: () => Promise<T>, what = "validation"): Promise<T> {
  const gone = new AbortController();
  const onClose = () => {
    if (!ctx.res.writableFinished) gone.abort();
  };
  ctx.res.once("close", onClose);
  try {
    return await lane.run(person, key, work, gone.signal);
  } catch (err: unknown) {
    if (err instanceof BusyError) throw new ApiError(429, "TooManyRequests", `${what} is busy: ${err.message}; try again in ${err.retryAfterSeconds} s`, { retryAfterSeconds: err.retryAfterSeconds });
    if (err instanceof SupersededError) throw new ApiError(409, "Superseded", `superseded: ${err.message}`);
    throw err;
  } finally {
    ctx.res.off("close", onClose);
  }
}
