/**
 * The log bus: every part of the operator, and reconciler code through `ctx.log`, logs
 * here. One record goes three ways: a ring buffer of the last N records (the editor's
 * backlog), live subscribers (the editor's WebSocket stream), and JSON lines on stdout
 * (`kubectl logs`). Editor notices (source changed, revision accepted or rejected)
 * have their own channel, notices.ts.
 *
 * Guarantees:
 * - `log()` never throws and never waits. Fields are turned into JSON-safe copies when
 *   logged (cycles, BigInt, Errors, functions, deep or huge values), so a record can
 *   always be serialised and holds no reference to live objects.
 * - A subscriber that throws is unsubscribed and reported; it cannot break logging.
 *   Slow consumers use `BoundedSubscription` (subscription.ts), which keeps at most K
 *   records, drops the oldest and counts the drops, so a stalled socket never grows
 *   memory or stalls the bus.
 * - Records carry a `seq` that increases by one per record, so a consumer can tell gaps.
 * - The stdout minimum level (`CHAKRATOR_LOG_LEVEL`, default info; read here and nowhere
 *   else, and a value that is not a level says so) filters stdout only; the ring buffer
 *   and subscribers see every level, so the editor can show `debug`.
 *
 * Context travels with the logger, as logr's does in controller-runtime: whoever knows
 * a piece of it (the loader the reconciler, a controller's pass the revision, the
 * pipeline the resource) adds it once with `child()` and hands the logger down.
 *
 * Not pino: stdout is one `JSON.stringify` of the record the editor stream already
 * carries, so pino would add a second record shape and a dependency, and remove none of
 * the ring, the subscribers or the JSON-safe copies, which are most of this module.
 *
 * `LogLevel` and `LogRecord` are defined here only: the engine, the sandbox,
 * the loader and the wire protocol (server/protocol.ts, for the UI) import them.
 */

import { errorFields, safeString, toJsonSafe } from "./json-safe.ts";
import { Ring } from "./ring.ts";

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


/** The level methods of a `Logger`, in terms of its `log()`. */
abstract class LevelLogger implements Logger {
  abstract log(level: LogLevel, message: string, context?: LogContext): void;
  abstract child(context: LogContext): Logger;
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
}

/**
 * The operator's log bus. Also a `Logger` with an empty context.
 * `log()` never throws; subscribers and notice listeners that throw are removed and reported.
 */
export class LogBus extends LevelLogger {
  private readonly ring: Ring<LogRecord>;
  private readonly stdoutLevel: LogLevel;
  private readonly sink: LineSink | undefined;
  private readonly clock: () => Date;
  private readonly subscribers = new Set<{ filter: LogFilter | undefined; onRecord: (record: LogRecord) => void }>();
  private seq = 0;

  constructor(options: LogBusOptions = {}) {
    super();
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

class ChildLogger extends LevelLogger {
  private readonly bus: LogBus;
  private readonly context: LogContext;

  constructor(bus: LogBus, context: LogContext) {
    super();
    this.bus = bus;
    this.context = context;
  }

  log(level: LogLevel, message: string, context?: LogContext): void {
    this.bus.log(level, message, context === undefined ? this.context : mergeContext(this.context, context));
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
