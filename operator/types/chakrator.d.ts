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

/** The metadata a child must have (a name); namespace defaults to the parent's. */
export interface ChildMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A child of a kind with no schema: any fields. Namespace defaults to the parent's. */
export interface LooseChild {
  apiVersion: string;
  kind: string;
  metadata: ChildMetadata;
  [field: string]: unknown;
}

/** An owned kind with no schema in the cluster: its name checked, its fields not. */
export interface UntypedChild<A extends string = string, K extends string = string> extends LooseChild {
  apiVersion: A;
  kind: K;
}

/**
 * The kinds this source's `for` and `owns` name, filled in by the compiler from the
 * cluster's OpenAPI (module augmentation, one per compile). Empty, everything stays
 * loose: then `Child` is {@link LooseChild} and the resource is `Resource`.
 * - `for`: the `for` kind's generated type, when the cluster has its schema;
 * - `owns`: the union of the `owns` kinds' generated types (an {@link UntypedChild}
 *   for a kind with no schema), when every `owns` entry is a literal.
 */
export interface KindsInUse {}

/** A generated kind as a child: its schema's fields, and a name. */
export type TypedChild<T> = T extends unknown ? T & { metadata: ChildMetadata } : never;

type OwnedKinds = KindsInUse extends { owns: infer O } ? O : never;

/**
 * A child the reconciler wants to exist. When every `owns` kind is known, a union of
 * their generated types, so a misspelt or mistyped field is a type error at its line;
 * otherwise {@link LooseChild}. Namespace defaults to the parent's.
 */
export type Child = [OwnedKinds] extends [never] ? LooseChild : TypedChild<OwnedKinds>;

/** The `for` kind's generated type (with the fields every object has), or `Resource`. */
export type ForResource = KindsInUse extends { for: infer F } ? F & Resource : Resource;

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

/** Who sent an admission request, as the API server authenticated them. */
export interface AdmissionUserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/**
 * What `validate` and `mutate` learn about the request besides the object. The object
 * itself is their first argument: the object being created or updated, or, on DELETE,
 * the object as stored.
 */
export interface AdmissionRequest<R extends Resource = Resource> {
  /** The API server's id of the request. */
  uid: string;
  operation: "CREATE" | "UPDATE" | "DELETE";
  /** The object as it is stored now, on UPDATE and DELETE. */
  oldObject?: R;
  userInfo: AdmissionUserInfo;
  /**
   * True for `kubectl apply --dry-run=server`: nothing will be stored. Admission calls
   * have no side effects either way, so most code ignores it.
   */
  dryRun: boolean;
}

/**
 * The answer of `validate`. `message` is what `kubectl` prints after
 * "admission webhook ... denied the request: ". `warnings` are shown to the client
 * either way (`kubectl` prints them as `Warning: ...`); keep each under 120 characters.
 */
export type ValidateResult =
  | { allowed: true; warnings?: string[] }
  | { allowed: false; message: string; warnings?: string[] };

/**
 * The default export of `reconciler.ts`. Without a type argument, `R` is the `for`
 * kind's type generated from the cluster's schema (see {@link KindsInUse}).
 */
export interface Reconciler<R extends Resource = ForResource> {
  /** The kind this reconciler owns the status of. */
  for: KindRef;
  /** Kinds of children it may create; a change to one re-reconciles its owner. */
  owns?: KindRef[];
  reconcile(resource: R, ctx: Context): MaybePromise<ReconcileResult>;
  /** Runs while the resource is being deleted; without it no finalizer is added. */
  finalize?(resource: R, ctx: Context): MaybePromise<FinalizeResult>;
  /**
   * Admission: runs before the API server stores a CREATE or UPDATE of the `for` kind
   * (in the reconciler's scope), after `mutate`. Return `{ allowed: false, message }`
   * to refuse it: `kubectl apply` fails with the message. With it, the operator keeps a
   * ValidatingWebhookConfiguration for the kind; without it, none. DELETE too, when the
   * reconciler ConfigMap has the annotation `chakrator.dev/admission-validate-delete: "true"`:
   * `object` is then the stored object and `kubectl delete` fails with the message. It
   * is off by default, since a validate written for CREATE and UPDATE would otherwise
   * refuse deleting an object that no longer passes it.
   *
   * Bounded tighter than `reconcile`: a time limit of `chakrator.dev/admission-timeout-ms`
   * (default 1000 ms, always under the webhook's `timeoutSeconds`). A throw, a timeout or
   * an invalid answer refuses the request with a message naming the revision (or
   * allows it, when the failure policy is `Ignore`) and records a Warning Event on the
   * reconciler ConfigMap. `ctx.get`/`ctx.list` read as in `reconcile`; `ctx.event`
   * becomes a log record, since the object may not exist yet.
   */
  validate?(object: R, ctx: Context, request: AdmissionRequest<R>): MaybePromise<ValidateResult>;
  /**
   * Admission: runs before `validate` on CREATE and UPDATE, and returns the object as
   * it should be stored, e.g. with defaults filled in. The operator sends the API
   * server the JSON Patch from the object it got to the one returned. Changes to
   * `apiVersion`, `kind`, `metadata.name`, `metadata.namespace` and `status` are
   * refused (the request is denied, naming the field). Same limits and failure
   * handling as `validate`. Must be idempotent: the API server may call it twice.
   */
  mutate?(object: R, ctx: Context, request: AdmissionRequest<R>): MaybePromise<R>;
}
