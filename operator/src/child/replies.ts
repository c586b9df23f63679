/**
 * `Replies`: requests sent to a child process, waiting for the reply that repeats their
 * id. Each has a deadline; what happens when it passes (kill the child, answer a
 * failure) is the caller's `onDeadline`. Shared by the sandbox and the compiler.
 *
 * Guarantees: every opened request settles exactly once, by `resolve`, `reject`,
 * `rejectAll` or its deadline; its timer is cleared when it does.
 */
export interface Waiting<Meta> {
  id: number;
  meta: Meta;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Entry<Meta> extends Waiting<Meta> {
  timer: NodeJS.Timeout | undefined;
}

export class Replies<Meta> {
  private nextId = 1;
  private readonly entries = new Map<number, Entry<Meta>>();

  /** Opens a request; `onDeadline` runs (once) if no reply comes within `deadlineMs`. */
  open<T>(meta: Meta, deadlineMs: number, onDeadline: (waiting: Waiting<Meta>) => void): { id: number; promise: Promise<T> } {
    const id = this.nextId++;
    let entry!: Entry<Meta>;
    const promise = new Promise<T>((resolve, reject) => {
      entry = { id, meta, resolve: resolve as (value: unknown) => void, reject, timer: undefined };
    });
    entry.timer = setTimeout(() => {
      if (this.entries.get(id) === entry) onDeadline(entry);
    }, deadlineMs);
    this.entries.set(id, entry);
    return { id, promise };
  }

  /** The request with `id`, still waiting (for bridge traffic during a call). */
  peek(id: number): Waiting<Meta> | undefined {
    return this.entries.get(id);
  }

  /** Removes the request and clears its deadline; the caller settles what it gets. */
  take(id: number): Waiting<Meta> | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }

  /** Rejects every waiting request with `error(meta)`; returns the metas it rejected. */
  rejectAll(error: (meta: Meta) => Error): Meta[] {
    const metas: Meta[] = [];
    for (const id of [...this.entries.keys()]) {
      const entry = this.take(id);
      if (entry === undefined) continue;
      metas.push(entry.meta);
      entry.reject(error(entry.meta));
    }
    return metas;
  }

  get size(): number {
    return this.entries.size;
  }
}
