/**
 * The sandbox: runs reconciler revisions (untrusted, already-transpiled JavaScript) in
 * isolated-vm isolates inside a supervised child process. See README.md.
 */
export { Sandbox } from "./sandbox.ts";
export {
  CallAbortedError, InvalidResultError, LoadError, MemoryLimitError, SandboxCrashedError, SandboxError,
  SandboxUsageError, TimeoutError, UserCodeError, userMessage,
} from "./errors.ts";
export type { CallSite } from "./errors.ts";
export type { HostStats } from "./protocol.ts";
export type {
  CallMethod, CallOptions, CallOutcome, HostBridge, LoadedRevision, LogLevel, RevisionLimits, RevisionSource,
  SandboxEvent, SandboxOptions,
} from "./types.ts";
