/**
 * The reconciler contract: the typings a reconciler ConfigMap sees as the module
 * `"chakrator"`. Only `import type` from it works; at run time nothing is imported.
 *
 * A reconciler is level-based: `reconcile` is handed the current state of one
 * resource and returns the children and status it should have. The engine applies
 * the children with server-side apply, prunes the ones no longer returned, and
 * writes the status with `observedGeneration` and a `Ready` condition.
 *
 * The sandbox has no network, filesystem, timers, `process` or `require`: only the
 * ECMAScript built-ins and the `ctx` passed to each call.
 */

/** Any JSON value: everything crossing the sandbox boundary is copied as JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Names a kind, as in a manifest: `{ apiVersion: "apps/v1", kind: "Deployment" }`. */
export interface KindRef {
  apiVersion: string;
  kind: string;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
}

/** A Kubernetes object as the API server returns it. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

/** A child the reconciler wants to exist. Namespace defaults to the parent's. */
export interface Child {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** Structured fields on a log record. */
export type LogFields = Record<string, JsonValue | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface EventInput {
  /** `Normal` (default) or `Warning`. */
  type?: "Normal" | "Warning";
  /** A short UpperCamelCase reason, e.g. `"Scaled"`. */
  reason: string;
  message: string;
}

export interface ListOptions {
  namespace?: string;
  /** Equality-based selector on labels: every pair must match. */
  labels?: Record<string, string>;
}

/** What a call may do besides compute: everything here is a copy or a message. */
export interface Context {
  log: Logger;
  /**
   * Reads one object of the `for` kind or an `owns` kind from the operator's
   * cache (never the network). Resolves to `undefined` when it does not exist.
   * Rejects for a kind the reconciler did not declare.
   */
  get<T extends Resource = Resource>(kind: KindRef, name: string, namespace?: string): Promise<T | undefined>;
  /** Lists cached objects of a declared kind; the namespace defaults to all. */
  list<T extends Resource = Resource>(kind: KindRef, options?: ListOptions): Promise<T[]>;
  /** Records a Kubernetes Event on the resource being reconciled. */
  event(event: EventInput): void;
  /** The operator's clock, as milliseconds since the epoch. */
  now(): number;
}

export interface ReconcileResult {
  /** The complete set of children; any child made before and missing here is pruned. */
  children?: Child[];
  /** Written to the status subresource, beside `observedGeneration` and `conditions`. */
  status?: Record<string, JsonValue>;
  /** Reconcile again after this many seconds even if nothing changes. */
  requeueAfterSeconds?: number;
}

export interface FinalizeResult {
  /** `true` lets the engine remove its finalizer; `false` calls `finalize` again later. */
  done: boolean;
  requeueAfterSeconds?: number;
}

type MaybePromise<T> = T | Promise<T>;

/** The default export of `reconciler.ts`. */
export interface Reconciler<R extends Resource = Resource> {
  /** The kind this reconciler owns the status of. */
  for: KindRef;
  /** Kinds of children it may create; a change to one re-reconciles its owner. */
  owns?: KindRef[];
  reconcile(resource: R, ctx: Context): MaybePromise<ReconcileResult>;
  /** Runs while the resource is being deleted; without it no finalizer is added. */
  finalize?(resource: R, ctx: Context): MaybePromise<FinalizeResult>;
}
