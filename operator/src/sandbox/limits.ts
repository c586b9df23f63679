/**
 * Defaults and caps of the sandbox's limits, and the clamping every revision goes
 * through: a revision may ask for less or more than the default but never more than
 * the global cap, nor less than what isolated-vm accepts (8 MiB) or a usable minimum.
 */
import type { CallMethod, RevisionLimits, SandboxOptions, SandboxEvent } from "./types.ts";

/** Options of `Sandbox.start` with every default filled in and validated. */
export interface ResolvedOptions {
  timeoutMs: number;
  memoryMb: number;
  maxTimeoutMs: number;
  maxMemoryMb: number;
  poolSize: number;
  maxResultBytes: number;
  maxHostMemoryMb: number;
  heartbeatTimeoutMs: number;
  quarantineStrikes: number;
  quarantineWindowMs: number;
  quarantineBaseMs: number;
  hostExecArgv: string[];
  hostNice: number;
  onEvent: (event: SandboxEvent) => void;
}

export const DEFAULTS = {
  timeoutMs: 5000,
  memoryMb: 64,
  maxTimeoutMs: 30_000,
  maxMemoryMb: 256,
  poolSize: 2,
  maxResultBytes: 4 * 1024 * 1024,
  maxHostMemoryMb: 1024,
  heartbeatTimeoutMs: 5000,
  quarantineStrikes: 3,
  quarantineWindowMs: 5 * 60_000,
  quarantineBaseMs: 60_000,
} as const;

/**
 * RSS a host needs before any isolate: Node, isolated-vm and the host's own code
 * measure about 45 MiB on Node 24 (operator/bench/noisy-neighbour.bench.ts prints it).
 */
const HOST_BASE_MB = 96;

/**
 * A host's default RSS cap for a revision: the base plus twice each isolate's limit
 * (isolated-vm's `memoryLimit` is a guideline that hostile code can overshoot), capped
 * by `maxHostMemoryMb`. 64 MiB isolates in a pool of 2 give 352 MiB.
 */
export function defaultHostMemoryMb(memoryMb: number, options: ResolvedOptions): number {
  return Math.min(options.maxHostMemoryMb, HOST_BASE_MB + 2 * options.poolSize * memoryMb);
}

/** isolated-vm refuses less than 8 MiB. */
const MIN_MEMORY_MB = 8;
const MIN_TIMEOUT_MS = 10;

/** Fills in defaults; throws `RangeError` for a non-positive or non-finite number. */
export function resolveOptions(options: SandboxOptions): ResolvedOptions {
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`sandbox option ${name} must be a positive number, got ${value}`);
    return value;
  };
  const maxTimeoutMs = positive("maxTimeoutMs", options.maxTimeoutMs, DEFAULTS.maxTimeoutMs);
  const maxMemoryMb = Math.max(MIN_MEMORY_MB, positive("maxMemoryMb", options.maxMemoryMb, DEFAULTS.maxMemoryMb));
  const onEvent = options.onEvent;
  return {
    maxTimeoutMs,
    maxMemoryMb,
    timeoutMs: clamp(positive("timeoutMs", options.timeoutMs, DEFAULTS.timeoutMs), MIN_TIMEOUT_MS, maxTimeoutMs),
    memoryMb: clamp(positive("memoryMb", options.memoryMb, DEFAULTS.memoryMb), MIN_MEMORY_MB, maxMemoryMb),
    poolSize: Math.max(1, Math.floor(positive("poolSize", options.poolSize, DEFAULTS.poolSize))),
    maxResultBytes: positive("maxResultBytes", options.maxResultBytes, DEFAULTS.maxResultBytes),
    maxHostMemoryMb: Math.max(64, positive("maxHostMemoryMb", options.maxHostMemoryMb, DEFAULTS.maxHostMemoryMb)),
    heartbeatTimeoutMs: Math.max(200, positive("heartbeatTimeoutMs", options.heartbeatTimeoutMs, DEFAULTS.heartbeatTimeoutMs)),
    quarantineStrikes: Math.max(1, Math.floor(positive("quarantineStrikes", options.quarantineStrikes, DEFAULTS.quarantineStrikes))),
    quarantineWindowMs: positive("quarantineWindowMs", options.quarantineWindowMs, DEFAULTS.quarantineWindowMs),
    quarantineBaseMs: positive("quarantineBaseMs", options.quarantineBaseMs, DEFAULTS.quarantineBaseMs),
    hostExecArgv: [...(options.hostExecArgv ?? [])],
    hostNice: Math.min(19, Math.max(0, Math.round(options.hostNice ?? 10))),
    onEvent: (event) => {
      try {
        onEvent?.(event);
      } catch {
        // A faulty hook must not take the supervisor down with it.
      }
    },
  };
}

/** A revision's limits: its own request or the default, clamped to the caps. */
export function clampLimits(limits: RevisionLimits | undefined, options: ResolvedOptions): { timeoutMs: number; memoryMb: number } {
  const pick = (value: number | undefined, fallback: number) =>
    value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
  return {
    timeoutMs: Math.round(clamp(pick(limits?.timeoutMs, options.timeoutMs), MIN_TIMEOUT_MS, options.maxTimeoutMs)),
    memoryMb: Math.round(clamp(pick(limits?.memoryMb, options.memoryMb), MIN_MEMORY_MB, options.maxMemoryMb)),
  };
}

/**
 * A reconcile, a finalize and module evaluation may take this many times their time
 * limit in wall-clock time. The limit itself counts the isolate's CPU time: a busy node,
 * a CPU-throttled pod or a host demoted to niceness 19 stretches wall-clock time without
 * the reconciler doing anything wrong, and cache reads are waits, not work. The
 * wall-clock limit still ends a promise that never settles.
 */
export const WAIT_FACTOR = 5;

/**
 * The wall-clock limit of a call of `method` (or of loading, `"load"`) whose time limit
 * is `timeoutMs`. Admission calls get no slack: the webhook's deadline is wall-clock.
 */
export function wallLimitMs(method: CallMethod | "load", timeoutMs: number): number {
  return method === "validate" || method === "mutate" ? timeoutMs : timeoutMs * WAIT_FACTOR;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
