/**
 * A log subscription for slow consumers (the editor's WebSocket stream): bounded, so a
 * stalled socket never grows memory or stalls the bus.
 */
import { matchesFilter, type LogBus, type LogFilter, type LogRecord } from "./log.ts";
import { Ring } from "./ring.ts";

/** Options of `BoundedSubscription`. */
export interface BoundedSubscriptionOptions {
  /** Records kept before the oldest are dropped. Default 1000. */
  capacity?: number;
  /**
   * Called (synchronously, inside `log()`) when the buffer goes from empty to non-empty,
   * i.e. when a consumer that had caught up has something to `take()` again.
   */
  onReadable?: () => void;
}

/**
 * A subscription for slow consumers (the WebSocket stream): buffers up to K matching
 * records; when full it drops the oldest and counts them. The consumer pulls with
 * `take()` whenever it can send, and tells its reader how many were dropped.
 */
export class BoundedSubscription {
  private readonly buffer: Ring<LogRecord>;
  private readonly onReadable: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private droppedSinceTake = 0;
  private droppedTotal = 0;
  private closed = false;

  constructor(bus: LogBus, filter: LogFilter | undefined, options: BoundedSubscriptionOptions = {}) {
    this.buffer = new Ring(Math.max(1, Math.floor(options.capacity ?? 1000)));
    this.onReadable = options.onReadable;
    this.unsubscribe = bus.subscribe(filter, (record) => this.push(record));
  }

  /**
   * Removes and returns up to `max` buffered records, oldest first, with the number of
   * records dropped since the previous `take()` (all older than the returned ones).
   */
  take(max = Number.POSITIVE_INFINITY): { records: LogRecord[]; dropped: number } {
    const dropped = this.droppedSinceTake;
    this.droppedSinceTake = 0;
    return { records: this.buffer.shift(max), dropped };
  }

  /** Records waiting to be taken. */
  get size(): number {
    return this.buffer.size;
  }

  /** Records dropped over the subscription's life. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Stops receiving records; buffered records can still be taken. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
  }

  private push(record: LogRecord): void {
    const wasEmpty = this.buffer.size === 0;
    if (this.buffer.push(record)) {
      this.droppedSinceTake++;
      this.droppedTotal++;
    }
    // The consumer's callback must not unsubscribe us by throwing.
    if (wasEmpty && this.onReadable !== undefined) {
      try {
        this.onReadable();
      } catch {
        // The consumer finds the records on its next take().
      }
    }
  }
}
