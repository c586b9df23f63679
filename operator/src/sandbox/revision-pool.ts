/**
 * The isolates of one revision inside the sandbox host: up to `poolSize` slots, built
 * lazily, each serving one call at a time. A slot disposed by a timeout, memory overrun
 * or abort is dropped and its place rebuilt on the next demand, so one bad call costs
 * that slot's module state and nothing else. Unloading disposes idle slots at once and
 * busy ones when their call ends.
 */
import { BuildError, IsolateSlot, type SlotHooks } from "./isolate-slot.ts";
import type { RevisionMeta, RevisionSpec } from "./protocol.ts";

export class RevisionPool {
  readonly spec: RevisionSpec;
  /** What the first build read from the default export. */
  readonly meta: RevisionMeta;
  private readonly hooks: SlotHooks;
  private readonly idle: IsolateSlot[] = [];
  private readonly all = new Set<IsolateSlot>();
  private building = 0;
  private readonly waiters: Array<{ resolve: (slot: IsolateSlot) => void; reject: (error: unknown) => void }> = [];
  private closed = false;

  constructor(spec: RevisionSpec, hooks: SlotHooks, first: IsolateSlot) {
    this.spec = spec;
    this.hooks = hooks;
    this.meta = first.meta;
    this.all.add(first);
    this.idle.push(first);
  }

  /** Builds the first slot, which validates the revision; rejects with `BuildError`. */
  static async create(spec: RevisionSpec, hooks: SlotHooks): Promise<RevisionPool> {
    return new RevisionPool(spec, hooks, await IsolateSlot.create(spec, hooks));
  }

  /** A slot for one call; waits when all `poolSize` slots are busy. Rejects with `BuildError` if a rebuild fails. */
  async acquire(): Promise<IsolateSlot> {
    if (this.closed) throw new BuildError("the revision is being unloaded");
    const slot = this.idle.pop();
    if (slot !== undefined) return slot;
    if (this.all.size + this.building < this.spec.poolSize) {
      this.building++;
      try {
        const built = await IsolateSlot.create(this.spec, this.hooks);
        this.all.add(built);
        return built;
      } finally {
        this.building--;
      }
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Returns a slot after its call; a disposed slot leaves the pool and a waiter gets a fresh one. */
  release(slot: IsolateSlot): void {
    if (slot.disposed || this.closed) {
      slot.dispose("unload");
      this.all.delete(slot);
      const waiter = this.waiters.shift();
      if (waiter !== undefined) this.acquire().then(waiter.resolve, waiter.reject);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(slot);
    else this.idle.push(slot);
  }

  /** Disposes every idle slot now and each busy one when it is released. */
  close(): void {
    this.closed = true;
    for (const slot of this.idle.splice(0)) {
      slot.dispose("unload");
      this.all.delete(slot);
    }
    for (const waiter of this.waiters.splice(0)) waiter.reject(new BuildError("the revision was unloaded"));
  }

  /** Heap statistics of every live slot. */
  heapStatistics(): Array<{ usedHeapBytes: number; totalHeapBytes: number; externalBytes: number }> {
    const stats = [];
    for (const slot of this.all) {
      const heap = slot.heapStatistics();
      if (heap !== undefined) stats.push({ usedHeapBytes: heap.used_heap_size, totalHeapBytes: heap.total_heap_size, externalBytes: heap.externally_allocated_size });
    }
    return stats;
  }
}
