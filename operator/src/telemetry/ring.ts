/** The ring buffer behind the log bus's backlog and the bounded subscriptions. */
/** Fixed-size FIFO that overwrites its oldest entry when full. */
export class Ring<T> {
  private readonly items: Array<T | undefined>;
  private start = 0;
  readonly capacity: number;
  size = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.items = new Array<T | undefined>(capacity);
  }

  /** Appends; returns true when the oldest entry was overwritten. */
  push(item: T): boolean {
    if (this.capacity === 0) return true;
    const full = this.size === this.capacity;
    this.items[(this.start + this.size) % this.capacity] = item;
    if (full) this.start = (this.start + 1) % this.capacity;
    else this.size++;
    return full;
  }

  /** Removes and returns up to `max` oldest entries. */
  shift(max: number): T[] {
    const count = Math.min(max, this.size);
    const out: T[] = [];
    for (let i = 0; i < count; i++) {
      const index = (this.start + i) % this.capacity;
      out.push(this.items[index] as T);
      this.items[index] = undefined;
    }
    this.start = (this.start + count) % Math.max(1, this.capacity);
    this.size -= count;
    return out;
  }

  /** Oldest first, without removing. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }
}
