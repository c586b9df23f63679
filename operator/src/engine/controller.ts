/**
 * One reconciler's controller: informers on its `for` kind and its `owns` kinds, a
 * work queue of `namespace/name` keys, and workers that run the reconcile pipeline.
 *
 * Level-based, as controller-runtime's: a queue key names an object, never an event;
 * each reconcile reads the object's current state from the cache. The pipeline is
 *   finalizer bookkeeping -> sandbox call -> apply children -> prune -> status,
 * and its outcome is handled in one place (`#work`): success forgets the key's
 * backoff and honours `requeueAfterSeconds`; an error is retried with per-key
 * exponential backoff; a vanished object is dropped.
 *
 * A new revision with the same `for`/`owns` keeps the caches and re-enqueues every
 * object; one that changes them gets new informers (see manager.ts).
 */
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import type { EventRecorder, EventSpec } from "../kube/events.ts";
import { Informer, objectKey } from "../kube/informer.ts";
import {
  CallAbortedError, HostMemoryLimitError, InvalidResultError, MemoryLimitError, QuarantinedError, SandboxCrashedError, SandboxError, TimeoutError,
  UserCodeError, userMessage, type HostBridge, type RevisionRunner,
} from "../sandbox/index.ts";
import type { FinalizeResult, KindRef, ReconcileResult, Resource } from "../../types/chakrator.d.ts";
import {
  adoptionConflict, ChildConflictError, childrenToPrune, fieldManager, InvalidChildError, kindKey, needsApply, ownerLabel, prepareChildren,
} from "./children.ts";
import { WorkQueue } from "./queue.ts";
import { statusPatch, type ReadyCondition } from "./status.ts";

/** The finalizer the engine adds when a reconciler has `finalize`. */
export const finalizerName = "chakrator.dev/finalizer";

/** A revision the engine can run; produced by reconcilers/. */
export interface ActiveRevision {
  /** `namespace/name` of the reconciler ConfigMap. */
  reconciler: string;
  number: number;
  hash: string;
  /** The sandbox's revision id. */
  sandboxId: string;
  for: KindRef;
  owns: KindRef[];
  hasFinalize: boolean;
  /** Namespace whose resources it reconciles; undefined for all namespaces. */
  namespace: string | undefined;
  /** `namespace/name` of the ServiceAccount it acts as (when the engine impersonates). */
  serviceAccount?: string;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Where the engine's logs go (the telemetry log bus satisfies it). */
export interface EngineLog {
  log(level: LogLevel, message: string, context?: { reconciler?: string; revision?: number; resource?: string; source?: "operator" | "user"; fields?: Record<string, unknown> }): void;
}

/** Optional counters the engine reports to (metrics). All members may be no-ops. */
export interface EngineHooks {
  reconciled?(reconciler: string, outcome: "success" | "error" | "requeue", seconds: number): void;
  sandboxFailure?(reconciler: string, kind: "timeout" | "memory"): void;
  watchRestarted?(kind: string): void;
  queueDepth?(reconciler: string, depth: number): void;
  queueWait?(reconciler: string, seconds: number): void;
  retried?(reconciler: string): void;
  /** Wraps each object's reconcile, e.g. to check single-writer invariants in tests. */
  around?<T>(key: string, run: () => Promise<T>): Promise<T>;
}

export interface ControllerDeps {
  /** Acts for the reconciler: impersonating its ServiceAccount when `impersonate` is on (manager.ts). */
  client: KubeClient;
  sandbox: RevisionRunner;
  /** Events on the reconciler's resources (as the reconciler's identity). */
  events: EventRecorder;
  /** Events on the reconciler ConfigMap itself: the operator's own work, as the operator. Default `events`. */
  operatorEvents?: EventRecorder;
  /** Make every request of a reconciler as its ServiceAccount (`ActiveRevision.serviceAccount`). */
  impersonate?: boolean;
  /** An Event recorder writing through `client` (the impersonating one). */
  eventsFor?: (client: KubeClient) => EventRecorder;
  log: EngineLog;
  hooks?: EngineHooks;
  /** Concurrent reconciles (different objects). */
  workers: number;
  /** Every object is reconciled at least this often. */
  resyncMs: number;
}

type Outcome =
  | { type: "done"; requeueAfterMs?: number }
  | { type: "gone" }
  /** `retryAfterMs`: retry then instead of after the key's backoff (a quarantine's end). */
  | { type: "error"; error: unknown; retryAfterMs?: number };

/** Runs one reconciler revision; see the module comment. */
export class Controller {
  #rev: ActiveRevision;
  readonly #deps: ControllerDeps;
  readonly #queue: WorkQueue;
  #forInformer!: Informer;
  readonly #owned = new Map<string, Informer>();
  #workers: Promise<void>[] = [];
  #resync: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly #echoes = new Set<string>();
  /** Objects with a write of ours in flight: kind/namespace/name -> settles when it ends. */
  readonly #writing = new Map<string, Promise<void>>();
  #started = false;
  #markStopped!: () => void;
  readonly #stopped = new Promise<void>((r) => { this.#markStopped = r; });

  constructor(deps: ControllerDeps, rev: ActiveRevision) {
    this.#deps = deps;
    this.#rev = rev;
    const hooks = deps.hooks;
    this.#queue = new WorkQueue({
      metrics: {
        depth: (n: number) => hooks?.queueDepth?.(this.#rev.reconciler, n),
        added: () => {},
        queueWait: (s: number) => hooks?.queueWait?.(this.#rev.reconciler, s),
        workDuration: () => {},
        retried: () => hooks?.retried?.(this.#rev.reconciler),
      },
    });
  }

  /** True once caches synced and workers run. */
  get isStarted(): boolean {
    return this.#started;
  }

  get revision(): ActiveRevision {
    return this.#rev;
  }

  /** The informer holding objects of `kind`, when this revision declared it. */
  informerFor(kind: KindRef): Informer | undefined {
    if (kindKey(kind) === kindKey(this.#rev.for)) return this.#forInformer;
    return this.#owned.get(kindKey(kind));
  }

  /** Starts informers, waits for their first list, then starts the workers. */
  async start(): Promise<void> {
    // Stopped before it started (shutdown raced a leadership change): start no watch.
    if (this.#stopping) return;
    const rev = this.#rev;
    const { client } = this.#deps;
    const restart = (kind: string) => (why: string) => {
      this.#deps.hooks?.watchRestarted?.(kind);
      this.#deps.log.log("warn", `watch of ${kind} restarted: ${why}`, { reconciler: rev.reconciler });
    };
    const onError = (kind: string) => (err: unknown, attempt: number) => {
      this.#deps.log.log(attempt > 3 ? "error" : "warn", `watch of ${kind} failed (attempt ${attempt}): ${err instanceof Error ? err.message : String(err)}`, { reconciler: rev.reconciler });
      // A forbidden watch never heals by itself and keeps this reconciler from starting:
      // say so where `kubectl describe configmap` shows it.
      if (err instanceof KubeApiError && err.status === 403 && attempt % 10 === 1) {
        const [ns, name] = splitKey(rev.reconciler);
        const ref: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: ns === undefined ? { name } : { name, namespace: ns } };
        const who = this.#rev.serviceAccount !== undefined && this.#deps.impersonate ? `its ServiceAccount ${this.#rev.serviceAccount}` : "the operator";
        void (this.#deps.operatorEvents ?? this.#deps.events).record(ref, { type: "Warning", reason: "WatchForbidden", message: `${who} may not list/watch ${kind}${rev.namespace === undefined ? " in all namespaces" : ` in namespace ${rev.namespace}`}, so this reconciler cannot start: ${err.message} (chakrator rbac prints the Role it needs)` });
      }
    };
    const forOptions: ConstructorParameters<typeof Informer>[1] = {
      apiVersion: rev.for.apiVersion,
      kind: rev.for.kind,
      onEvent: (type, obj, old) => {
        const enqueue = () => this.#queue.add(objectKey(obj.metadata.namespace, obj.metadata.name));
        if (type === "delete") enqueue();
        // The echo check comes first: it also forgets the echo, whatever follows.
        else this.#unlessEcho(obj, () => {
          if (type === "update" && old && !worthReconciling(old, obj)) return;
          enqueue();
        });
      },
      onRestart: restart(rev.for.kind),
      onError: onError(rev.for.kind),
    };
    if (rev.namespace !== undefined) forOptions.namespace = rev.namespace;
    this.#forInformer = new Informer(client, forOptions);
    for (const kind of rev.owns) {
      const options: ConstructorParameters<typeof Informer>[1] = {
        apiVersion: kind.apiVersion,
        kind: kind.kind,
        labelSelector: ownerLabel,
        indexLabel: ownerLabel,
        onEvent: (type, obj) => {
          if (type === "delete") this.#enqueueOwner(obj);
          else this.#unlessEcho(obj, () => this.#enqueueOwner(obj));
        },
        onRestart: restart(kind.kind),
        onError: onError(kind.kind),
      };
      if (rev.namespace !== undefined) options.namespace = rev.namespace;
      this.#owned.set(kindKey(kind), new Informer(client, options));
    }
    const informers = [this.#forInformer, ...this.#owned.values()];
    for (const i of informers) i.start();
    await Promise.race([Promise.all(informers.map((i) => i.synced)), this.#stopped]);
    if (this.#stopping) return;
    this.#started = true;
    for (let i = 0; i < this.#deps.workers; i++) this.#workers.push(this.#runWorker());
    this.#resync = setInterval(() => this.enqueueAll(), this.#deps.resyncMs);
    this.#resync.unref();
  }

  /** Swaps in a revision with the same kinds and namespace; every object is reconciled again. */
  swap(rev: ActiveRevision): void {
    this.#rev = rev;
    this.enqueueAll();
  }

  /** Enqueues every cached object of the `for` kind. */
  enqueueAll(): void {
    for (const obj of this.#forInformer.list()) this.#queue.add(objectKey(obj.metadata.namespace, obj.metadata.name));
  }

  /** Stops taking work, lets in-flight reconciles finish (up to `drainMs`), stops the watches. */
  async stop(drainMs = 30_000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#markStopped();
    if (this.#resync) clearInterval(this.#resync);
    await Promise.race([this.#queue.shutDownWithDrain(), new Promise((r) => setTimeout(r, drainMs).unref())]);
    this.#queue.shutDown();
    await Promise.race([Promise.all(this.#workers), new Promise((r) => setTimeout(r, 1_000).unref())]);
    this.#forInformer?.stop();
    for (const i of this.#owned.values()) i.stop();
  }

  /** Number of keys waiting. */
  get queueLength(): number {
    return this.#queue.len();
  }

  /**
   * Remembers the resourceVersion our own write produced. The watch event carrying
   * exactly that version is the echo of our write, not news: it does not enqueue
   * another reconcile. Any other change (a later version, a deletion) still does.
   */
  #wrote(obj: KubeObject): void {
    const rv = obj.metadata.resourceVersion;
    if (!rv) return;
    if (this.#echoes.size > 50_000) this.#echoes.clear();
    this.#echoes.add(`${obj.kind}/${obj.metadata.namespace ?? ""}/${obj.metadata.name}@${rv}`);
  }

  #isEcho(obj: KubeObject): boolean {
    return this.#echoes.delete(`${obj.kind}/${obj.metadata.namespace ?? ""}/${obj.metadata.name}@${obj.metadata.resourceVersion}`);
  }

  /**
   * Runs `then` unless `obj` is the echo of our own write. The watch may deliver that
   * echo before the write's response arrives (measured: ~30% of first applies), when
   * its resourceVersion is not known yet; so an event for an object with a write in
   * flight waits for that write to finish, then is judged (as controller-runtime users
   * do by waiting for the in-flight write).
   */
  #unlessEcho(obj: KubeObject, then: () => void): void {
    const pending = this.#writing.get(objectId(obj));
    if (pending === undefined) {
      if (!this.#isEcho(obj)) then();
      return;
    }
    void pending.then(() => {
      if (!this.#isEcho(obj)) then();
    });
  }

  /** One write of ours to an object: tracked while in flight (see `#unlessEcho`), its result remembered as an echo. */
  async #write<T extends KubeObject>(target: { kind: string; metadata: { name: string; namespace?: string } }, write: () => Promise<T>): Promise<T> {
    const id = objectId(target);
    const running = write();
    const settled = running.then(() => {}, () => {});
    this.#writing.set(id, settled);
    try {
      const obj = await running;
      this.#wrote(obj);
      return obj;
    } finally {
      if (this.#writing.get(id) === settled) this.#writing.delete(id);
    }
  }

  #enqueueOwner(child: KubeObject): void {
    const rev = this.#rev;
    const ref = child.metadata.ownerReferences?.find((r) => r.controller && r.kind === rev.for.kind && r.apiVersion === rev.for.apiVersion);
    if (ref) this.#queue.add(objectKey(child.metadata.namespace, ref.name));
  }

  async #runWorker(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      const started = performance.now();
      let outcome: Outcome;
      try {
        const hooks = this.#deps.hooks;
        outcome = hooks?.around ? await hooks.around(key, () => this.#reconcile(key)) : await this.#reconcile(key);
      } catch (err: unknown) {
        outcome = { type: "error", error: err };
      } finally {
        this.#queue.done(key);
      }
      const seconds = (performance.now() - started) / 1000;
      const reconciler = this.#rev.reconciler;
      switch (outcome.type) {
        case "gone":
          this.#queue.forget(key);
          break;
        case "done":
          this.#queue.forget(key);
          if (outcome.requeueAfterMs !== undefined) this.#queue.addAfter(key, outcome.requeueAfterMs);
          this.#deps.hooks?.reconciled?.(reconciler, outcome.requeueAfterMs !== undefined ? "requeue" : "success", seconds);
          break;
        case "error":
          if (outcome.retryAfterMs !== undefined) this.#queue.addAfter(key, outcome.retryAfterMs);
          else this.#queue.addRateLimited(key);
          this.#deps.hooks?.reconciled?.(reconciler, "error", seconds);
          break;
      }
    }
  }

  async #reconcile(key: string): Promise<Outcome> {
    const rev = this.#rev;
    const [namespace, name] = splitKey(key);
    const res = this.#forInformer.get(namespace, name);
    if (!res) return { type: "gone" };
    const resource = `${res.kind} ${key}`;
    const ctx = { reconciler: rev.reconciler, revision: rev.number, resource };
    const finalizers = res.metadata.finalizers ?? [];

    if (res.metadata.deletionTimestamp) {
      if (!finalizers.includes(finalizerName)) return { type: "done" };
      if (rev.hasFinalize) {
        let result: FinalizeResult;
        try {
          result = await this.#deps.sandbox.call(rev.sandboxId, "finalize", res, this.#bridge(res, rev));
        } catch (err: unknown) {
          return this.#fail(res, rev, err, "FinalizeError");
        }
        if (!result.done) {
          return { type: "done", requeueAfterMs: (result.requeueAfterSeconds ?? 5) * 1000 };
        }
      }
      await this.#removeFinalizer(res);
      this.#deps.log.log("info", "finalized; finalizer removed", ctx);
      return { type: "done" };
    }

    let current = res;
    if (rev.hasFinalize && !finalizers.includes(finalizerName)) {
      current = await this.#addFinalizer(res);
    }

    let result: ReconcileResult;
    try {
      result = await this.#deps.sandbox.call(rev.sandboxId, "reconcile", current, this.#bridge(current, rev));
    } catch (err: unknown) {
      return this.#fail(current, rev, err);
    }

    try {
      const desired = prepareChildren(current, result.children, rev.owns);
      const applied = await this.#applyChildren(current, desired);
      const pruned = await this.#pruneChildren(current, desired, rev);
      await this.#writeStatus(current, result.status ?? {}, {
        status: "True",
        reason: "Reconciled",
        // Stable for a converged object (no counts of what this pass did), so that a
        // re-reconcile with nothing to do writes nothing.
        message: `revision ${rev.number}: ${desired.length} ${desired.length === 1 ? "child" : "children"} in sync`,
      });
      if (applied || pruned) this.#deps.log.log("info", `reconciled: ${applied} applied, ${pruned} pruned`, ctx);
    } catch (err: unknown) {
      return this.#fail(current, rev, err);
    }
    const after = result.requeueAfterSeconds;
    return after !== undefined && after > 0 ? { type: "done", requeueAfterMs: after * 1000 } : { type: "done" };
  }

  async #applyChildren(parent: KubeObject, desired: KubeObject[]): Promise<number> {
    const todo = desired
      .map((d) => ({ d, cached: this.#owned.get(kindKey(d))?.get(d.metadata.namespace, d.metadata.name) }))
      .filter(({ d, cached }) => needsApply(d, cached));
    // Before the first write of a child, look at what is live: the cache only holds
    // objects labelled as children, so it cannot see a foreign object with the same name.
    await Promise.all(todo.map(async ({ d, cached }) => {
      const info = await this.#deps.client.resource(d.apiVersion, d.kind);
      if (!info.namespaced && parent.metadata.namespace !== undefined) {
        throw new InvalidChildError(`${d.kind} ${d.metadata.name}: ${d.kind} is cluster-scoped, and a namespaced ${parent.kind} cannot own it`);
      }
      const live = cached ?? await this.#deps.client.get(d.apiVersion, d.kind, d.metadata.name, d.metadata.namespace);
      const conflict = live === undefined ? undefined : adoptionConflict(parent, live);
      if (conflict !== undefined) throw new ChildConflictError(conflict);
    }));
    await Promise.all(todo.map(async ({ d }) => {
      try {
        await this.#write(d, () => this.#deps.client.apply(d, { fieldManager, force: true }));
      } catch (err: unknown) {
        throw new ApplyError(`apply ${d.kind} ${d.metadata.name}: ${describe(err, this.#deps.client)}`, { cause: err });
      }
    }));
    return todo.length;
  }

  async #pruneChildren(owner: KubeObject, desired: KubeObject[], rev: ActiveRevision): Promise<number> {
    let pruned = 0;
    for (const kind of rev.owns) {
      const informer = this.#owned.get(kindKey(kind));
      if (!informer) continue;
      const live = informer.list(owner.metadata.namespace, { [ownerLabel]: owner.metadata.uid ?? "" });
      for (const c of childrenToPrune(owner, live, desired)) {
        const opts: { uid?: string; propagationPolicy: "Background" } = { propagationPolicy: "Background" };
        if (c.metadata.uid) opts.uid = c.metadata.uid;
        await this.#deps.client.delete(c.apiVersion, c.kind, c.metadata.name, c.metadata.namespace, opts);
        pruned++;
      }
    }
    return pruned;
  }

  /** `userStatus` undefined keeps the user's last status fields (the error path). */
  async #writeStatus(res: KubeObject, userStatus: Record<string, unknown> | undefined, ready: ReadyCondition): Promise<void> {
    const patch = statusPatch(res, userStatus, ready, new Date());
    if (!patch) return;
    await this.#write(res, () => this.#deps.client.patch(res.apiVersion, res.kind, res.metadata.name, res.metadata.namespace, patch, "merge", "status"));
  }

  async #fail(res: KubeObject, rev: ActiveRevision, err: unknown, fallbackReason = "ReconcileError"): Promise<Outcome> {
    const reason = reasonFor(err, fallbackReason);
    const message = describe(err, this.#deps.client);
    const resource = `${res.kind} ${objectKey(res.metadata.namespace, res.metadata.name)}`;
    const fields: Record<string, unknown> = { reason };
    if (err instanceof UserCodeError && err.userStack) fields.stack = err.userStack;
    this.#deps.log.log("error", `reconcile failed: ${message}`, { reconciler: rev.reconciler, revision: rev.number, resource, fields });
    if (err instanceof TimeoutError) this.#deps.hooks?.sandboxFailure?.(rev.reconciler, "timeout");
    if (err instanceof MemoryLimitError || err instanceof HostMemoryLimitError) this.#deps.hooks?.sandboxFailure?.(rev.reconciler, "memory");
    const spec: EventSpec = { type: "Warning", reason, message };
    void this.#deps.events.record(res, spec);
    try {
      await this.#writeStatus(res, undefined, { status: "False", reason, message });
    } catch (statusErr: unknown) {
      this.#deps.log.log("warn", `could not write the Ready=False status: ${describe(statusErr)}`, { reconciler: rev.reconciler, resource });
    }
    // A quarantined revision is tried again when its quarantine ends, not sooner.
    if (err instanceof QuarantinedError) return { type: "error", error: err, retryAfterMs: Math.max(1000, err.until - Date.now() + Math.random() * 1000) };
    return { type: "error", error: err };
  }

  /** Adds the finalizer with a JSON patch guarded by resourceVersion (never creates the object). */
  async #addFinalizer(res: KubeObject): Promise<KubeObject> {
    const ops: unknown[] = [{ op: "test", path: "/metadata/resourceVersion", value: res.metadata.resourceVersion }];
    ops.push(res.metadata.finalizers ? { op: "add", path: "/metadata/finalizers/-", value: finalizerName } : { op: "add", path: "/metadata/finalizers", value: [finalizerName] });
    return this.#write(res, () => this.#deps.client.patch(res.apiVersion, res.kind, res.metadata.name, res.metadata.namespace, ops, "json"));
  }

  /** Removes the finalizer; on a conflict, retries on a fresh read. */
  async #removeFinalizer(res: KubeObject): Promise<void> {
    let current: KubeObject | undefined = res;
    for (let attempt = 0; current && attempt < 5; attempt++) {
      const i = current.metadata.finalizers?.indexOf(finalizerName) ?? -1;
      if (i < 0) return;
      try {
        await this.#deps.client.patch(current.apiVersion, current.kind, current.metadata.name, current.metadata.namespace, [
          { op: "test", path: `/metadata/finalizers/${i}`, value: finalizerName },
          { op: "remove", path: `/metadata/finalizers/${i}` },
        ], "json");
        return;
      } catch (err: unknown) {
        if (!(err instanceof KubeApiError) || (err.status !== 409 && err.status !== 422)) throw err;
        current = await this.#deps.client.get(res.apiVersion, res.kind, res.metadata.name, res.metadata.namespace);
      }
    }
  }

  /** ctx.get/list/log/event of one call: reads only declared kinds, from the caches. */
  #bridge(res: KubeObject, rev: ActiveRevision): HostBridge {
    const resource = `${res.kind} ${objectKey(res.metadata.namespace, res.metadata.name)}`;
    const informerOf = (kind: KindRef): Informer => {
      const informer = kind && typeof kind === "object" ? this.informerFor(kind) : undefined;
      if (!informer) throw new Error(`ctx.get/list: kind ${kind?.apiVersion}/${kind?.kind} is not declared in for or owns`);
      return informer;
    };
    return {
      get: async (kind, name, namespace) => informerOf(kind).get(namespace ?? res.metadata.namespace, name) as Resource | undefined,
      list: async (kind, options) => informerOf(kind).list(options?.namespace, options?.labels) as Resource[],
      log: (level, message, fields) => this.#deps.log.log(level, message, { reconciler: rev.reconciler, revision: rev.number, resource, source: "user", ...(fields ? { fields } : {}) }),
      event: (e) => void this.#deps.events.record(res, { type: e.type ?? "Normal", reason: e.reason, message: e.message }),
    };
  }
}

/** A child could not be applied (RBAC, validation, conflict). */
export class ApplyError extends Error {
  override name = "ApplyError";
}

function objectId(obj: { kind: string; metadata: { name: string; namespace?: string | undefined } }): string {
  return `${obj.kind}/${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
}

function splitKey(key: string): [string | undefined, string] {
  const i = key.indexOf("/");
  return i < 0 ? [undefined, key] : [key.slice(0, i), key.slice(i + 1)];
}

/** Status-only updates (our own writes) do not need a reconcile; spec, metadata and deletion do. */
function worthReconciling(old: KubeObject, obj: KubeObject): boolean {
  const a = old.metadata;
  const b = obj.metadata;
  if (a.generation === undefined || a.generation !== b.generation) return true;
  return a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.annotations) !== JSON.stringify(b.annotations) ||
    JSON.stringify(a.finalizers) !== JSON.stringify(b.finalizers);
}

function reasonFor(err: unknown, fallback: string): string {
  if (err instanceof TimeoutError) return "Timeout";
  if (err instanceof MemoryLimitError || err instanceof HostMemoryLimitError) return "MemoryLimit";
  if (err instanceof QuarantinedError) return "Quarantined";
  if (err instanceof InvalidResultError) return "InvalidResult";
  if (err instanceof SandboxCrashedError || err instanceof CallAbortedError) return "SandboxRestarted";
  if (err instanceof InvalidChildError) return "InvalidChild";
  if (err instanceof ChildConflictError) return "ChildConflict";
  if (err instanceof ApplyError) return "ApplyFailed";
  if (err instanceof KubeApiError) return "APIError";
  return fallback;
}

function describe(err: unknown, client?: KubeClient): string {
  const who = client?.impersonated;
  if (err instanceof KubeApiError && err.status === 403) {
    return who !== undefined
      ? `${err.message} (grant ${who.replace(/^system:serviceaccount:([^:]+):/, "ServiceAccount $1/")} this permission; chakrator rbac prints the Role)`
      : `${err.message} (grant the operator's ServiceAccount this permission, see manifests/README.md "A reconciler's own identity")`;
  }
  // The sandbox names its internal revision id; people see revision numbers (logs, status).
  if (err instanceof SandboxError) return userMessage(err);
  return err instanceof Error ? err.message : String(err);
}
