/**
 * The messages between the operator (parent) and the sandbox host (child) over the
 * IPC channel. Requests carry a numeric `id` the reply repeats; a call's `id` also
 * names the call in the bridge messages it causes. Only plain data crosses: resource
 * and cache objects as JSON strings, results as parsed, shape-checked objects.
 */
import type { EventInput, JsonValue, KindRef, ListOptions } from "../../types/chakrator.d.ts";
import type { CallMethod, LogLevel } from "./types.ts";

/** A revision as the host needs it: source plus limits already clamped by the parent. */
export interface RevisionSpec {
  id: string;
  modules: Record<string, string>;
  entry: string;
  timeoutMs: number;
  memoryMb: number;
  poolSize: number;
  maxResultBytes: number;
}

/** Metadata read from the default export at load. */
export interface RevisionMeta {
  for: KindRef;
  owns: KindRef[];
  hasFinalize: boolean;
  hasValidate: boolean;
  hasMutate: boolean;
}

/** Why a call failed inside the host. */
export type FailureKind = "user" | "timeout" | "memory" | "invalid" | "aborted" | "load" | "internal";

export type BridgeOp =
  | { op: "get"; kind: KindRef; name: string; namespace?: string }
  | { op: "list"; kind: KindRef; options?: ListOptions };

/** Parent to host. */
export type HostRequest =
  | { t: "load"; id: number; revision: RevisionSpec }
  | { t: "call"; id: number; revisionId: string; method: CallMethod; resourceJson: string }
  | { t: "cancel"; id: number }
  | { t: "unload"; revisionId: string }
  | { t: "stats"; id: number }
  /** `reply` is `"R"` (undefined), `"R" + json` (a value) or `"E" + message` (rejection). */
  | { t: "bridge-reply"; reqId: number; reply: string };

/** Host to parent. */
export type HostMessage =
  | { t: "ready"; pid: number }
  | { t: "loaded"; id: number; meta: RevisionMeta }
  | { t: "load-failed"; id: number; message: string; stack?: string }
  | { t: "result"; id: number; value: { [key: string]: JsonValue } }
  | { t: "failed"; id: number; kind: FailureKind; message: string; name?: string; stack?: string }
  | { t: "bridge"; callId: number; reqId: number; request: BridgeOp }
  | { t: "log"; callId: number; level: LogLevel; message: string; fields?: Record<string, JsonValue> }
  | { t: "event"; callId: number; event: EventInput }
  | { t: "log-dropped"; callId: number; count: number }
  | { t: "stats"; id: number; stats: HostStats };

/** Memory figures of the host, for metrics and the benchmark. */
export interface HostStats {
  pid: number;
  rssBytes: number;
  /** Per loaded revision, one entry per live isolate. */
  isolates: Record<string, Array<{ usedHeapBytes: number; totalHeapBytes: number; externalBytes: number }>>;
}
