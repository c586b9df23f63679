/**
 * A counting semaphore with FIFO waiters and abortable waits: how the parent keeps at
 * most `poolSize` calls of one revision in the host at a time, so the host never has
 * to queue and every call it receives starts (almost) at once.
 */
import { CallAbortedError } from "./errors.ts";

export class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];

  constructor(permits: number) {
    this.available = permits;
  }

  /** Resolves to a release function once a permit is free; rejects with `CallAbortedError` if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new CallAbortedError("the call was aborted before it started", { cause: signal.reason }));
    if (this.available > 0) {
      this.available--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(this.releaser());
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(grant);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new CallAbortedError("the call was aborted while waiting for an isolate", { cause: signal?.reason }));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.available++;
    };
  }
}
