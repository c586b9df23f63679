/**
 * Public types of the sandbox: what the operator hands in (options, revision source,
 * bridge) and what it gets back (revision metadata, call outcomes, supervisor events).
 * Everything that crosses into user code is JSON; these types say so.
 */
import type {
  EventInput,
  FinalizeResult,
  JsonValue,
  KindRef,
  ListOptions,
  ReconcileResult,
  Resource,
  ValidateResult,
} from "../../types/chakrator.d.ts";
import type { LogLevel } from "../telemetry/log.ts";

/** Options of `Sandbox.start`; every field has a safe default. */
export interface SandboxOptions {
  /** Default per-call time limit (ms of the isolate's CPU time; wall-clock limit from it, see limits.ts `wallLimitMs`). Default 5000. */
  timeoutMs?: number;
  /** Default per-isolate memory limit (MiB). Default 64. */
  memoryMb?: number;
  /** Cap on any revision's `timeoutMs`. Default 30000. */
  maxTimeoutMs?: number;
  /** Cap on any revision's `memoryMb`. Default 256. */
  maxMemoryMb?: number;
  /** Isolates per revision, i.e. how many calls of one revision run at once. Default 2. */
  poolSize?: number;
  /** Largest serialized result accepted (UTF-16 code units of its JSON). Default 4 MiB. */
  maxResultBytes?: number;
  /** Global cap on a sandbox host's RSS (MiB); a revision's `hostMemoryMb` never exceeds it. Default 1024. */
  maxHostMemoryMb?: number;
  /** A host whose main thread does not answer its heartbeat for this long is killed as hung. Default 5000. */
  heartbeatTimeoutMs?: number;
  /** Host failures with a call of the revision in flight that quarantine it. Default 3. */
  quarantineStrikes?: number;
  /** ... within this window (ms). Default 5 min. */
  quarantineWindowMs?: number;
  /** The first quarantine's length (ms); each further one doubles it, up to 15 min. Default 1 min. */
  quarantineBaseMs?: number;
  /** Extra Node flags for host processes (V8 heap tuning). */
  hostExecArgv?: string[];
  /** Niceness of host processes (0-19): they yield the CPU to the operator. Default 10. */
  hostNice?: number;
  /** Told about supervisor happenings, for logs and metrics. Must not throw (errors are swallowed). */
  onEvent?: (event: SandboxEvent) => void;
}

/** Per-revision limits; clamped to the sandbox's caps. */
export interface RevisionLimits {
  timeoutMs?: number;
  memoryMb?: number;
  /** RSS cap of the reconciler's host (MiB); default from `memoryMb`, see limits.ts. */
  hostMemoryMb?: number;
}

/** A revision as `reconcilers/` produces it: already-transpiled ESM JavaScript per file. */
export interface RevisionSource {
  /** Identifies the content (a hash): loading an id that is loaded returns the loaded one. */
  id: string;
  /** File name (e.g. `reconciler.ts`, `lib/util.ts`) to ESM JavaScript. */
  modules: Record<string, string>;
  /** Key of `modules` whose default export is the reconciler. */
  entry: string;
  limits?: RevisionLimits;
  /**
   * Which sandbox host runs it: one supervised host process per key. The source manager
   * uses the reconciler's key (`namespace/name`); editor dry runs use `EDITOR_HOST`, a
   * host of their own. Default: `EDITOR_HOST`.
   */
  host?: string;
}

/** The host key of editor work (dry runs): never shared with a production reconciler. */
export const EDITOR_HOST = "chakrator:editor";

/** A loaded revision's metadata, copied out of the isolate as JSON. */
export interface LoadedRevision {
  id: string;
  for: KindRef;
  owns: KindRef[];
  hasFinalize: boolean;
  /** Present (true) when the default export has `validate` / `mutate` (admission). */
  hasValidate?: true;
  hasMutate?: true;
  /** The limits in force after clamping. */
  limits: { timeoutMs: number; memoryMb: number };
}

/**
 * The operator's side of `ctx`: cache reads, logs, events of one call. `get`/`list`
 * may reject (e.g. an undeclared kind); user code then sees an `Error` with the same
 * message. `log` and `event` are fire-and-forget; what they throw is swallowed.
 */
export interface HostBridge {
  get(kind: KindRef, name: string, namespace?: string): Promise<Resource | undefined>;
  list(kind: KindRef, options?: ListOptions): Promise<Resource[]>;
  log(level: LogLevel, message: string, fields: Record<string, JsonValue> | undefined): void;
  event(event: EventInput): void;
}

export type { LogLevel };

/**
 * `validate` and `mutate` are admission calls: their input is `{ object, request }`
 * (the prelude passes `object, ctx, request` to user code), see `AdmissionInput`.
 */
export type CallMethod = "reconcile" | "finalize" | "validate" | "mutate";

/** The input of an admission call (`validate`, `mutate`). */
export interface AdmissionInput {
  object: Resource;
  request: { [key: string]: JsonValue | Resource | undefined };
}

/** What a call resolves to: the reconciler's result, copied as JSON and shape-checked. */
export type CallOutcome = ReconcileResult | FinalizeResult | ValidateResult | Resource;

export interface CallOptions {
  /** Aborting rejects the call with `CallAbortedError`; a running call's isolate is disposed. */
  signal?: AbortSignal;
}

/** Supervisor happenings, for the operator's logs and metrics. */
export type SandboxEvent =
  | { type: "host-started"; pid: number; generation: number }
  | { type: "host-exited"; pid: number; code: number | null; signal: string | null; failedCalls: number; reason?: "exited" | "hung" | "memory" | "killed" }
  | { type: "host-memory-limit"; pid: number; rssBytes: number; capBytes: number }
  | { type: "revision-quarantined"; revisionId: string; cause: string; durationMs: number; count: number }
  | { type: "host-stopped"; pid: number }
  | { type: "host-demoted"; pid: number; revisionId: string }
  | { type: "host-recycled"; pid: number }
  | { type: "log-rate-limited"; dropped: number; ratePerSecond: number }
  | { type: "event-budget-exceeded"; resource: string; dropped: number }
  | { type: "host-unresponsive"; pid: number; revisionId: string; waitedMs: number }
  | { type: "host-restart-scheduled"; attempt: number; delayMs: number }
  | { type: "host-start-failed"; attempt: number; error: Error }
  | { type: "isolate-disposed"; revisionId: string; reason: "timeout" | "memory" | "aborted" | "error" }
  | { type: "revision-reload-failed"; revisionId: string; error: Error }
  | { type: "log-dropped"; revisionId: string; count: number };
