/**
 * The log panel's model: a capped buffer of records and "dropped" markers, and the
 * filter over it. Capped so a chatty operator cannot grow the page without bound
 * (the oldest entries go first); filtering 5000 entries takes well under a frame.
 */
import type { LogRecord } from "../protocol.ts";

/** One row: a record, or a marker that the server dropped records for this client. */
export type LogEntry = { kind: "log"; id: number; record: LogRecord } | { kind: "dropped"; id: number; count: number; time: string };

/** Which entries to show. Empty strings mean "any". */
export interface LogFilter {
  /** Minimum level. */
  level: LogRecord["level"];
  reconciler: string;
  resource: string;
  text: string;
}

/** Levels by severity, lowest first. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;

const rank: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Whether `entry` passes `filter` (markers always do). */
export function matches(entry: LogEntry, filter: LogFilter): boolean {
  if (entry.kind === "dropped") return true;
  const r = entry.record;
  if ((rank[r.level] ?? 1) < (rank[filter.level] ?? 0)) return false;
  if (filter.reconciler && r.reconciler !== filter.reconciler) return false;
  if (filter.resource && !(r.resource ?? "").toLowerCase().includes(filter.resource.toLowerCase())) return false;
  if (filter.text) {
    const needle = filter.text.toLowerCase();
    if (!r.message.toLowerCase().includes(needle) && !(r.fields && fieldsText(r).toLowerCase().includes(needle))) return false;
  }
  return true;
}

const fieldCache = new WeakMap<LogRecord, string>();
/** The record's fields as compact `k=v` text (cached). */
export function fieldsText(r: LogRecord): string {
  if (!r.fields) return "";
  let s = fieldCache.get(r);
  if (s === undefined) {
    s = Object.entries(r.fields)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    fieldCache.set(r, s);
  }
  return s;
}

/** A capped list of log entries. */
export class LogBuffer {
  readonly cap: number;
  entries: LogEntry[] = [];
  /** Entries removed to respect the cap since the last clear. */
  trimmed = 0;
  /** Records the server reported dropped since the last clear. */
  droppedTotal = 0;
  private nextId = 1;
  readonly reconcilers = new Set<string>();

  constructor(cap = 5000) {
    this.cap = cap;
  }

  /** Appends records and markers; trims the oldest beyond the cap. */
  append(items: ReadonlyArray<LogRecord | { dropped: number }>): void {
    for (const it of items) {
      if ("dropped" in it) {
        this.droppedTotal += it.dropped;
        this.entries.push({ kind: "dropped", id: this.nextId++, count: it.dropped, time: new Date().toISOString() });
      } else {
        if (it.reconciler) this.reconcilers.add(it.reconciler);
        this.entries.push({ kind: "log", id: this.nextId++, record: it });
      }
    }
    const over = this.entries.length - this.cap;
    if (over > 0) {
      this.entries.splice(0, over);
      this.trimmed += over;
    }
  }

  clear(): void {
    this.entries = [];
    this.trimmed = 0;
    this.droppedTotal = 0;
  }
}
