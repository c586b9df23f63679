/**
 * Failure classes of the sandbox, one per failure point, each with a `cause`.
 *
 * The engine maps them to outcomes: `UserCodeError`, `TimeoutError`,
 * `MemoryLimitError` and `InvalidResultError` are the reconciler's fault (Ready=False,
 * Event, backoff); `SandboxCrashedError` is infrastructure (retry with backoff);
 * `LoadError` rejects a revision; `SandboxUsageError` is a caller bug; `CallAbortedError`
 * follows the caller's own `AbortSignal`. All extend `SandboxError`, so one `instanceof`
 * separates sandbox failures from anything else.
 */

/** Base class of every error the sandbox raises. */
export class SandboxError extends Error {
  override name = "SandboxError";
}

/** Where in which revision a call failed; set on every per-call error. */
export interface CallSite {
  revisionId: string;
  method: string;
}

/**
 * A revision could not be loaded: a syntax error (message carries `[file:line:col]`
 * as V8 reports it), an import that is not a module of the revision, a module that
 * threw, timed out or ran out of memory while evaluating, or a bad default export.
 */
export class LoadError extends SandboxError {
  override name = "LoadError";
  readonly revisionId: string;
  constructor(revisionId: string, message: string, options?: ErrorOptions) {
    super(`revision ${revisionId}: ${message}`, options);
    this.revisionId = revisionId;
  }
}

/** User code threw or rejected. `cause` is a copy of the thrown error; `userStack` is trimmed to user frames. */
export class UserCodeError extends SandboxError {
  override name = "UserCodeError";
  readonly revisionId: string;
  readonly method: string;
  /** The thrown error's stack, keeping only frames in the revision's own modules. */
  readonly userStack: string;
  constructor(site: CallSite, message: string, userStack: string, options?: ErrorOptions) {
    super(`${site.method} of revision ${site.revisionId} threw: ${message}`, options);
    this.revisionId = site.revisionId;
    this.method = site.method;
    this.userStack = userStack;
  }
}

/**
 * The call ran past its CPU-time or wall-clock limit (limits.ts, `wallLimitMs`); its
 * isolate was disposed and will be rebuilt. `detail` says which, as the host measured it.
 */
export class TimeoutError extends SandboxError {
  override name = "TimeoutError";
  readonly revisionId: string;
  readonly method: string;
  readonly timeoutMs: number;
  constructor(site: CallSite, timeoutMs: number, detail = `did not finish within ${timeoutMs} ms`, options?: ErrorOptions) {
    super(`${site.method} of revision ${site.revisionId} ${detail}`, options);
    this.revisionId = site.revisionId;
    this.method = site.method;
    this.timeoutMs = timeoutMs;
  }
}

/** The call exceeded its isolate's memory limit; the isolate was disposed and will be rebuilt. */
export class MemoryLimitError extends SandboxError {
  override name = "MemoryLimitError";
  readonly revisionId: string;
  readonly method: string;
  readonly memoryMb: number;
  constructor(site: CallSite, memoryMb: number, options?: ErrorOptions) {
    super(`${site.method} of revision ${site.revisionId} exceeded its memory limit of ${memoryMb} MiB`, options);
    this.revisionId = site.revisionId;
    this.method = site.method;
    this.memoryMb = memoryMb;
  }
}

/** The call returned something that is not a valid, JSON-only, size-capped result. */
export class InvalidResultError extends SandboxError {
  override name = "InvalidResultError";
  readonly revisionId: string;
  readonly method: string;
  constructor(site: CallSite, message: string, options?: ErrorOptions) {
    super(`${site.method} of revision ${site.revisionId} returned an invalid result: ${message}`, options);
    this.revisionId = site.revisionId;
    this.method = site.method;
  }
}

/** The sandbox host died or stopped answering during the call; a new host is started, retry later. */
export class SandboxCrashedError extends SandboxError {
  override name = "SandboxCrashedError";
}

/**
 * The reconciler's sandbox host grew past its RSS cap during the call and was killed
 * (a retry runs on a new host). Only this reconciler's host: others are unaffected.
 */
export class HostMemoryLimitError extends SandboxError {
  override name = "HostMemoryLimitError";
  readonly revisionId: string;
  readonly method: string;
  readonly rssMb: number;
  readonly capMb: number;
  constructor(site: CallSite, rssMb: number, capMb: number, options?: ErrorOptions) {
    super(`${site.method} of revision ${site.revisionId} drove its sandbox host to ${rssMb} MiB, over the host's limit of ${capMb} MiB (annotation chakrator.dev/host-memory-mb); the host was restarted`, options);
    this.revisionId = site.revisionId;
    this.method = site.method;
    this.rssMb = rssMb;
    this.capMb = capMb;
  }
}

/**
 * The revision crashed, hung or overran its host too often and is quarantined: calls
 * fail at once until `until` (ms since the epoch). A new revision or a rollback ends it.
 */
export class QuarantinedError extends SandboxError {
  override name = "QuarantinedError";
  readonly revisionId: string;
  readonly method: string;
  readonly lastCause: string;
  readonly until: number;
  constructor(site: CallSite, lastCause: string, until: number, options?: ErrorOptions) {
    // "until <time>", not "for N s": the message stays the same while the quarantine lasts, so Events aggregate.
    const at = new Date(until).toISOString().replace(/\.\d+Z$/, "Z");
    super(`revision ${site.revisionId} is quarantined until ${at} because its sandbox host kept failing (last: the host ${lastCause}); save a fixed revision or roll back to lift it`, options);
    this.revisionId = site.revisionId;
    this.method = site.method;
    this.lastCause = lastCause;
    this.until = until;
  }
}

/** The caller aborted the call through its `AbortSignal`; `cause` is the signal's reason. */
export class CallAbortedError extends SandboxError {
  override name = "CallAbortedError";
}

/** The caller misused the sandbox: unknown or unloading revision, missing `finalize`, closed sandbox, bad input. */
export class SandboxUsageError extends SandboxError {
  override name = "SandboxUsageError";
}

/**
 * The message for people: without the internal revision id the messages above carry
 * ("reconcile threw: Error: ..."); logs and status name the revision by its number.
 */
export function userMessage(err: SandboxError): string {
  return err.message.replace(/ of revision \S+/, "").replace(/^revision \S+ is quarantined/, "this revision is quarantined");
}
