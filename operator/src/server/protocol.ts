/**
 * The editor's wire protocol: the REST API's request and response bodies and the
 * WebSocket log stream's messages. Shared by the server and the UI (the UI imports
 * only types from here). Every error response is `ApiError` JSON.
 *
 * REST (all JSON; the session cookie authenticates when auth is on):
 *   GET    /api/session                          -> Session
 *   POST   /api/session            SignIn        -> Session          (401 bad token)
 *   DELETE /api/session                          -> Session
 *   GET    /api/reconcilers                      -> { items: ReconcilerSummary[] }
 *   POST   /api/reconcilers        CreateReconciler -> ReconcilerSource (201; 409 exists)
 *   GET    /api/reconcilers/:ns/:name            -> ReconcilerSource
 *   PUT    /api/reconcilers/:ns/:name SaveRequest -> SaveResponse
 *            409 SaveConflict when resourceVersion is stale (someone else saved, e.g. kubectl)
 *            422 ApiError with diagnostics when the source does not compile (unless force)
 *   GET    /api/reconcilers/:ns/:name/revisions  -> { items: Revision[] }
 *   POST   /api/reconcilers/:ns/:name/rollback RollbackRequest -> SaveResponse (409 / 404)
 *   GET    /api/reconcilers/:ns/:name/resources  -> { items: ResourceRef[] }  (live objects of its `for` kind)
 *   GET    /api/reconcilers/:ns/:name/rbac       -> ReconcilerRbac  (the RBAC its kinds need; what its ServiceAccount lacks)
 *   POST   /api/validate           ValidateRequest -> ValidateResponse
 *            403 unless the person may update configmaps in `reconciler.namespace`
 *            409 `Superseded`: a newer validation of the same reconciler by the same person replaced it
 *            429 with Retry-After (seconds): the editor lane is full; retry then
 *   POST   /api/dry-run            DryRunRequest  -> DryRunResponse    (403 and 429 as validate)
 *   GET    /healthz, /readyz (text), /metrics (Prometheus text)
 * WebSocket: /api/logs?reconciler=&resource=&level=&text=&replay=N
 *   server -> client: StreamMessage; client -> server: ClientMessage
 */

import type { KindRef } from "../kube/kind-ref.ts";
import type { Diagnostic } from "../reconcilers/compile-diagnostics.ts";
import type { LogFilter, LogLevel, LogRecord } from "../telemetry/log.ts";
import type { Notice } from "../telemetry/notices.ts";

export interface ApiError {
  error: {
    /** HTTP status repeated for convenience. */
    status: number;
    /** Short machine-readable reason, e.g. "Conflict", "Unauthorized", "Invalid". */
    reason: string;
    message: string;
    diagnostics?: Diagnostic[];
  };
}

export type { Diagnostic };

export interface Session {
  /** "off": local, loopback-only, no sign-in (the UI says so). "token": Kubernetes bearer tokens. */
  auth: "off" | "token";
  signedIn: boolean;
  user?: { username: string; groups: string[] };
}

export interface SignIn {
  token: string;
}

export type { KindRef };

export interface ReconcilerSummary {
  namespace: string;
  name: string;
  resourceVersion: string;
  active?: { number: number; hash: string; for: KindRef; owns: KindRef[]; hasFinalize: boolean; acceptedAt: string };
  lastRejection?: { hash: string; resourceVersion: string; at: string; diagnostics: Diagnostic[] };
  /** Reconcile counters since the operator started. */
  counts: { reconciles: number; errors: number };
  /** What the signed-in user may do (SelfSubjectAccessReview). */
  permissions: { update: boolean; create: boolean };
}

export interface ReconcilerSource extends ReconcilerSummary {
  /** The ConfigMap's data (reconciler.ts, other modules, other keys). */
  files: Record<string, string>;
}

export interface CreateReconciler {
  namespace: string;
  name: string;
  /** Template name; default "message" (the seed sample). */
  template?: string;
}

export interface SaveRequest {
  files: Record<string, string>;
  /** The resourceVersion the editor loaded; a mismatch is a 409. */
  resourceVersion: string;
  /** Save even if the source does not compile (the operator will reject it, keeping the last good revision). */
  force?: boolean;
}

export interface SaveResponse {
  resourceVersion: string;
}

export interface SaveConflict extends ApiError {
  current: { files: Record<string, string>; resourceVersion: string };
}

export interface Revision {
  number: number;
  hash: string;
  name: string;
  createdAt: string;
  files: Record<string, string>;
  active: boolean;
}

export interface RollbackRequest {
  revision: number;
  resourceVersion: string;
}

export interface ResourceRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

/** The least RBAC a reconciler's active revision needs (server/rbac.ts), as `chakrator rbac` prints it. */
export interface ReconcilerRbac {
  /** "namespace/name" of its ServiceAccount (annotation `chakrator.dev/service-account`, else `default`). */
  serviceAccount: string;
  /** A ClusterRole is needed (watch-namespace "*", or cluster-scoped kinds). */
  clusterWide: boolean;
  /** ServiceAccount, Role/ClusterRole and binding, for `kubectl apply -f -`. */
  yaml: string;
  /** The needed permissions the ServiceAccount lacks now; absent when they could not be checked (`problem` says why). */
  missing?: Array<{ verb: string; group: string; resource: string; namespace?: string }>;
  problem?: string;
}

/** The reconciler being edited: its namespace decides who may validate and dry-run. */
export interface ReconcilerRef {
  namespace: string;
  name: string;
}

export interface ValidateRequest {
  files: Record<string, string>;
  reconciler: ReconcilerRef;
}

export interface ValidateResponse {
  ok: boolean;
  hash: string;
  diagnostics: Diagnostic[];
  durationMs: number;
}

export interface DryRunRequest {
  files: Record<string, string>;
  reconciler: ReconcilerRef;
  /** A live object to run against... */
  target?: { namespace: string; name: string };
  /** ...or a pasted one, as YAML or JSON text. */
  yaml?: string;
}

export interface DryRunResponse {
  ok: boolean;
  diagnostics: Diagnostic[];
  children: unknown[];
  status?: Record<string, unknown>;
  requeueAfterSeconds?: number;
  logs: Array<{ level: LogLevel; message: string; fields?: Record<string, unknown> }>;
  events: Array<{ type: string; reason: string; message: string }>;
  error?: { reason: string; message: string };
  durationMs: number;
  /** For a live target: what exists now, to diff against. */
  live?: { children: unknown[]; status?: unknown };
  /**
   * When the source exports `validate` or `mutate`: what they say about the object, as
   * the API server would ask (a live target: UPDATE of itself; a pasted one: CREATE).
   */
  admission?: {
    operation: "CREATE" | "UPDATE";
    allowed: boolean;
    /** The object before mutate. */
    object: unknown;
    mutate?: { object: unknown; patch: unknown[] } | { error: string };
    validate?: { allowed: boolean; message?: string; warnings?: string[] } | { error: string };
    error?: string;
  };
}

export type { LogFilter, LogLevel, LogRecord, Notice };

export type StreamMessage =
  | { type: "hello"; replayed: number; auth: "off" | "token" }
  | { type: "log"; record: LogRecord }
  /** This client was too slow: `count` older records were dropped for it. */
  | { type: "dropped"; count: number }
  | { type: "notice"; notice: Notice };

export type ClientMessage = { type: "filter"; filter: LogFilter };
