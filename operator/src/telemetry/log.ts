/**
 * The log bus: every part of the operator, and reconciler code through `ctx.log`, logs
 * here. One record goes three ways: a ring buffer of the last N records (the editor's
 * backlog), live subscribers (the editor's WebSocket stream), and JSON lines on stdout
 * (`kubectl logs`). A second channel on the same bus carries notices (source changed,
 * revision accepted/rejected, reconciler removed) to the editor.
 *
 * Guarantees:
 * - `log()` never throws and never waits. Fields are turned into JSON-safe copies when
 *   logged (cycles, BigInt, Errors, functions, deep or huge values), so a record can
 *   always be serialised and holds no reference to live objects.
 * - A subscriber that throws is unsubscribed and reported; it cannot break logging.
 *   Slow consumers use `BoundedSubscription`, which keeps at most K records, drops the
 *   oldest and counts the drops, so a stalled socket never grows memory or stalls the bus.
 * - Records carry a `seq` that increases by one per record, so a consumer can tell gaps.
 * - The stdout minimum level (`CHAKRATOR_LOG_LEVEL`, default info) filters stdout only;
 *   the ring buffer and subscribers see every level, so the editor can show `debug`.
 *
 * `LogLevel`, `LogRecord` and `Notice` are defined here only: the engine, the sandbox,
 * the loader and the wire protocol (server/protocol.ts, for the UI) import them.
 */
import type { Diagnostic } from "../reconcilers/compile-diagnostics.ts";

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Levels in order, for comparisons; the index is the rank. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const satisfies readonly LogLevel[];

/** One log record; also the wire format of the editor's WebSocket log stream and of the stdout JSON lines. */
export interface LogRecord {
  seq: number;
  /** ISO 8601. */
  time: string;
  level: LogLevel;
  message: string;
  /** "namespace/name" of the reconciler ConfigMap. */
  reconciler?: string;
  revision?: number;
  /** "Kind namespace/name". */
  resource?: string;
  /** "user" = written by reconciler code via ctx.log. */
  source?: "operator" | "user";
  fields?: Record<string, unknown>;
}

/** What a logger stamps on its records; `fields` merge with (and are overridden by) per-call fields. */
export interface LogContext {
  reconciler?: string;
  revision?: number;
  resource?: string;
  source?: "operator" | "user";
  fields?: Record<string, unknown>;
}

/** Which records a reader wants; every given criterion must match. */
export interface LogFilter {
  /** Exact "namespace/name" of the reconciler ConfigMap. */
  reconciler?: string;
  /** Substring of the record's resource. */
  resource?: string;
  /** Minimum level. */
  level?: LogLevel;
  /** Case-insensitive substring of the message or of the fields' JSON. */
  text?: string;
}

/** Pushes to the editor that are not log lines. */
export type Notice =
  | { type: "source-changed"; reconciler: string; resourceVersion: string; by?: string }
  | { type: "revision-accepted"; reconciler: string; revision: number; hash: string }
  | { type: "revision-rejected"; reconciler: string; hash: string; diagnostics: Diagnostic[] }
  | { type: "reconciler-removed"; reconciler: string };

/** A logger bound to a context. Its methods never throw. */
export interface Logger {
  log(level: LogLevel, message: string, context?: LogContext): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose records carry this context on top of the parent's. */
  child(context: LogContext): Logger;
}

/** Where JSON lines go; `process.stdout` by default. */
export interface LineSink {
  write(line: string): unknown;
}

/** Options of `LogBus`. */
export interface LogBusOptions {
  /** Records kept for `recent()`. Default 2000. */
  capacity?: number;
  /** Minimum level written to stdout. Default: `CHAKRATOR_LOG_LEVEL`, else "info". */
  stdoutLevel?: LogLevel;
  /** `false` turns stdout off (tests); a sink receives each line with its trailing newline. Default `process.stdout`. */
  stdout?: false | LineSink;
  /** Wall clock for `time`. Default `() => new Date()`. */
  clock?: () => Date;
}

/** Parses a level name (any case); `undefined` for anything else. */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const lower = value?.trim().toLowerCase();
  return LOG_LEVELS.find((level) => level === lower);
}

/** True when `level` is at least `minimum`. */
export function levelAtLeast(level: LogLevel, minimum: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(minimum);
}

/** True when `record` passes every criterion of `filter`. */
export function matchesFilter(record: LogRecord, filter: LogFilter | undefined): boolean {
  if (filter === undefined) return true;
  if (filter.reconciler !== undefined && record.reconciler !== filter.reconciler) return false;
  if (filter.resource !== undefined && !(record.resource ?? "").includes(filter.resource)) return false;
  if (filter.level !== undefined && !levelAtLeast(record.level, filter.level)) return false;
  if (filter.text !== undefined && filter.text !== "") {
    const needle = filter.text.toLowerCase();
    if (!record.message.toLowerCase().includes(needle) && !fieldsText(record).includes(needle)) return false;
  }
  return true;
}

const fieldsTextCache = new WeakMap<LogRecord, string>();
function fieldsText(record: LogRecord): string {
  if (record.fields === undefined) return "";
  let text = fieldsTextCache.get(record);
  if (text === undefined) {
    text = JSON.stringify(record.fields).toLowerCase();
    fieldsTextCache.set(record, text);
  }
  return text;
}

/** Fixed-size FIFO that overwrites its oldest entry when full. */
class Ring<T> {
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

/**
 * The operator's log bus. Also a `Logger` with an empty context.
 * `log()` never throws; subscribers and notice listeners that throw are removed and reported.
 */
export class LogBus implements Logger {
  private readonly ring: Ring<LogRecord>;
  private readonly stdoutLevel: LogLevel;
  private readonly sink: LineSink | undefined;
  private readonly clock: () => Date;
  private readonly subscribers = new Set<{ filter: LogFilter | undefined; onRecord: (record: LogRecord) => void }>();
  private readonly noticeListeners = new Set<(notice: Notice) => void>();
  private seq = 0;

  constructor(options: LogBusOptions = {}) {
    this.ring = new Ring(Math.max(0, Math.floor(options.capacity ?? 2000)));
    this.sink = options.stdout === false ? undefined : (options.stdout ?? process.stdout);
    this.clock = options.clock ?? (() => new Date());
    const fromEnv = process.env["CHAKRATOR_LOG_LEVEL"];
    this.stdoutLevel = options.stdoutLevel ?? parseLogLevel(fromEnv) ?? "info";
    if (options.stdoutLevel === undefined && fromEnv !== undefined && fromEnv !== "" && parseLogLevel(fromEnv) === undefined) {
      this.warn("CHAKRATOR_LOG_LEVEL is not a level; using info", { value: fromEnv, levels: [...LOG_LEVELS] });
    }
  }

  /** Records one line. Never throws; odd values in `context.fields` are made JSON-safe. */
  log(level: LogLevel, message: string, context?: LogContext): void {
    try {
      this.publish(this.makeRecord(level, message, context));
    } catch (error: unknown) {
      // Only reachable through a bug here or a hostile getter; keep logging alive.
      this.writeLine({ seq: ++this.seq, time: this.now(), level: "error", message: "log bus failed to record a line", fields: { error: safeString(error) } });
    }
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.log("debug", message, fields === undefined ? undefined : { fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields === undefined ? undefined : { fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warn", message, fields === undefined ? undefined : { fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields === undefined ? undefined : { fields });
  }

  /**
   * Takes in a record made by another replica (the leader's reconcile logs, relayed to a
   * follower): it keeps its time, gets a local `seq`, reaches the ring and subscribers,
   * and is not written to stdout again (the replica that made it already did).
   */
  ingest(record: LogRecord): void {
    try {
      this.publish({ ...record, seq: ++this.seq }, false);
    } catch {
      // A malformed relayed record is dropped; the stream goes on.
    }
  }

  /** A logger stamping `context` (reconciler, revision, resource, source, fields) on each record. */
  child(context: LogContext): Logger {
    return new ChildLogger(this, context);
  }

  /** Up to `limit` most recent records that match `filter`, oldest first. */
  recent(filter?: LogFilter, limit?: number): LogRecord[] {
    const all = this.ring.toArray();
    const matching = filter === undefined ? all : all.filter((record) => matchesFilter(record, filter));
    if (limit === undefined || limit >= matching.length) return matching;
    return limit <= 0 ? [] : matching.slice(matching.length - limit);
  }

  /**
   * Calls `onRecord` synchronously for every later record matching `filter`; returns the
   * unsubscribe function. `onRecord` must be quick (queue, don't send); if it throws it is
   * unsubscribed and a warning is logged.
   */
  subscribe(filter: LogFilter | undefined, onRecord: (record: LogRecord) => void): () => void {
    const entry = { filter, onRecord };
    this.subscribers.add(entry);
    return () => {
      this.subscribers.delete(entry);
    };
  }

  /** Number of live record subscribers (for health and tests). */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Sends `notice` to every notice listener. Never throws; a listener that throws is removed and reported. */
  publishNotice(notice: Notice): void {
    for (const listener of [...this.noticeListeners]) {
      try {
        listener(notice);
      } catch (error: unknown) {
        this.noticeListeners.delete(listener);
        this.warn("notice listener threw; unsubscribed", { error: errorFields(error), notice: notice.type });
      }
    }
  }

  /** Calls `onNotice` for every later notice; returns the unsubscribe function. */
  subscribeNotices(onNotice: (notice: Notice) => void): () => void {
    this.noticeListeners.add(onNotice);
    return () => {
      this.noticeListeners.delete(onNotice);
    };
  }

  private makeRecord(level: LogLevel, message: string, context: LogContext | undefined): LogRecord {
    const record: LogRecord = {
      seq: ++this.seq,
      time: this.now(),
      level: LOG_LEVELS.includes(level) ? level : "info",
      message: typeof message === "string" ? message : safeString(message),
    };
    if (context !== undefined) {
      if (typeof context.reconciler === "string") record.reconciler = context.reconciler;
      if (typeof context.revision === "number") record.revision = context.revision;
      if (typeof context.resource === "string") record.resource = context.resource;
      if (context.source === "operator" || context.source === "user") record.source = context.source;
      if (context.fields !== undefined && context.fields !== null) {
        const fields = toJsonSafe(context.fields, 0, new Set());
        if (typeof fields === "object" && fields !== null && !Array.isArray(fields)) {
          if (Object.keys(fields).length > 0) record.fields = fields as Record<string, unknown>;
        } else {
          record.fields = { value: fields };
        }
      }
    }
    return record;
  }

  private publish(record: LogRecord, toStdout = true): void {
    this.ring.push(record);
    if (toStdout && levelAtLeast(record.level, this.stdoutLevel)) this.writeLine(record);
    for (const subscriber of [...this.subscribers]) {
      if (!this.subscribers.has(subscriber) || !matchesFilter(record, subscriber.filter)) continue;
      try {
        subscriber.onRecord(record);
      } catch (error: unknown) {
        // Removed first, so the warning below cannot reach it and loop.
        this.subscribers.delete(subscriber);
        this.warn("log subscriber threw; unsubscribed", { error: errorFields(error) });
      }
    }
  }

  private writeLine(record: LogRecord): void {
    if (this.sink === undefined) return;
    try {
      this.sink.write(`${JSON.stringify(record)}\n`);
    } catch {
      // stdout closed (EPIPE) or a broken sink: nowhere left to report it.
    }
  }

  private now(): string {
    try {
      return this.clock().toISOString();
    } catch {
      return new Date().toISOString();
    }
  }
}

class ChildLogger implements Logger {
  private readonly bus: LogBus;
  private readonly context: LogContext;

  constructor(bus: LogBus, context: LogContext) {
    this.bus = bus;
    this.context = context;
  }

  log(level: LogLevel, message: string, context?: LogContext): void {
    this.bus.log(level, message, context === undefined ? this.context : mergeContext(this.context, context));
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.log("debug", message, fields === undefined ? undefined : { fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields === undefined ? undefined : { fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warn", message, fields === undefined ? undefined : { fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields === undefined ? undefined : { fields });
  }
  child(context: LogContext): Logger {
    return new ChildLogger(this.bus, mergeContext(this.context, context));
  }
}

function mergeContext(parent: LogContext, own: LogContext): LogContext {
  const merged: LogContext = { ...parent, ...own };
  if (parent.fields !== undefined && own.fields !== undefined) merged.fields = { ...parent.fields, ...own.fields };
  else if (own.fields === undefined && parent.fields !== undefined) merged.fields = parent.fields;
  return merged;
}

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

// ---- making values JSON-safe ----

const MAX_DEPTH = 8;
const MAX_STRING = 16_384;
const MAX_ENTRIES = 200;

function truncate(text: string): string {
  return text.length <= MAX_STRING ? text : `${text.slice(0, MAX_STRING)}…[${text.length - MAX_STRING} more chars]`;
}

function safeString(value: unknown): string {
  try {
    return truncate(String(value));
  } catch {
    return "[unprintable]";
  }
}

function errorFields(error: unknown): unknown {
  return toJsonSafe(error, 0, new Set());
}

/**
 * A JSON-safe copy: cycles become "[Circular]", BigInt a decimal string, Errors
 * {name, message, stack, cause}, functions and symbols their description, Dates ISO,
 * Maps and Sets objects and arrays; deep, long or wide values are cut with a marker.
 * Getters that throw give "[Threw: ...]". Never throws.
 */
function toJsonSafe(value: unknown, depth: number, seen: Set<object>): unknown {
  switch (typeof value) {
    case "string":
      return truncate(value);
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
      return undefined;
    case "symbol":
      return value.toString();
    case "function":
      return `[Function ${value.name || "anonymous"}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Too deep]";
  seen.add(object);
  try {
    if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
    if (object instanceof Error) {
      const out: Record<string, unknown> = { name: safeString(object.name), message: safeString(object.message) };
      if (object.stack !== undefined) out["stack"] = safeString(object.stack);
      if (object.cause !== undefined) out["cause"] = toJsonSafe(object.cause, depth + 1, seen);
      return out;
    }
    if (Array.isArray(object)) return safeArray(object, depth, seen);
    if (object instanceof Set) return safeArray([...object], depth, seen);
    if (object instanceof Map) return safeEntries([...object].map(([key, item]) => [safeString(key), item] as const), depth, seen);
    if (ArrayBuffer.isView(object)) return `[${object.constructor.name} ${object.byteLength} bytes]`;
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return toJsonSafe(toJSON.call(object), depth + 1, seen);
    return safeEntries(
      Object.keys(object).map((key) => {
        try {
          return [key, (object as Record<string, unknown>)[key]] as const;
        } catch (error: unknown) {
          return [key, `[Threw: ${safeString(error)}]`] as const;
        }
      }),
      depth,
      seen,
    );
  } catch (error: unknown) {
    return `[Unserialisable: ${safeString(error)}]`;
  } finally {
    seen.delete(object);
  }
}

function safeArray(items: unknown[], depth: number, seen: Set<object>): unknown[] {
  const out = items.slice(0, MAX_ENTRIES).map((item) => {
    const safe = toJsonSafe(item, depth + 1, seen);
    return safe === undefined ? null : safe;
  });
  if (items.length > MAX_ENTRIES) out.push(`[${items.length - MAX_ENTRIES} more items]`);
  return out;
}

function safeEntries(entries: ReadonlyArray<readonly [string, unknown]>, depth: number, seen: Set<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries.slice(0, MAX_ENTRIES)) {
    const safe = toJsonSafe(item, depth + 1, seen);
    // defineProperty, so a key named "__proto__" stays a plain key.
    if (safe !== undefined) Object.defineProperty(out, key, { value: safe, enumerable: true, writable: true, configurable: true });
  }
  if (entries.length > MAX_ENTRIES) out["…"] = `[${entries.length - MAX_ENTRIES} more keys]`;
  return out;
}
