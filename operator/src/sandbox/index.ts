/**
 * The sandbox: runs reconciler revisions (untrusted, already-transpiled JavaScript) in
 * isolated-vm isolates inside supervised child processes, one per reconciler. See README.md.
 */
export { Sandbox } from "./sandbox.ts";
export { SandboxFleet } from "./fleet.ts";
export type { FleetEvent, FleetOptions, RevisionRunner } from "./fleet.ts";
export { MAX_REQUEUE_SECONDS } from "./result-shape.ts";
export { EDITOR_HOST } from "./types.ts";
export {
  CallAbortedError, HostMemoryLimitError, InvalidResultError, LoadError, MemoryLimitError, QuarantinedError, SandboxCrashedError, SandboxError,
  SandboxUsageError, TimeoutError, UserCodeError, userMessage,
} from "./errors.ts";
export type { CallSite } from "./errors.ts";
export type { HostStats } from "./protocol.ts";
export type {
  CallMethod, CallOptions, CallOutcome, HostBridge, LoadedRevision, LogLevel, RevisionLimits, RevisionSource,
  SandboxEvent, SandboxOptions,
} from "./types.ts";
