/**
 * One reconciler's controller, the generic machinery: informers on its `for` kind and
 * its `owns` kinds (of each, the labelled children in full, and the names of the other
 * objects for the check before a child's first write), a work queue of `namespace/name`
 * keys, workers, resync and the echo filter. A worker turns a key into an explicit
 * outcome by running the reconcile pipeline (pipeline.ts) on the cached object, writing
 * through the live writer (api-writer.ts).
 *
 * Level-based, as controller-runtime's: a queue key names an object, never an event;
 * each reconcile reads the object's current state from the cache. The outcome is
 * handled in one place (`#runWorker`): success forgets the key's backoff and honours
 * `requeueAfterSeconds`; an error is retried with per-key exponential backoff (or when
 * a quarantine ends); a vanished object is dropped.
 *
 * A new revision with the same `for`/`owns` keeps the caches and re-enqueues every
 * object; one that changes them gets new informers (see engine.ts).
 */
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import type { EventRecorder } from "../kube/events.ts";
import { Informer, objectKey } from "../kube/informer.ts";
import { kindKey } from "../kube/kind-ref.ts";
import type { HostBridge, RevisionRunner } from "../sandbox/index.ts";
import type { Logger } from "../telemetry/log.ts";
import type { KindRef, Resource } from "../../types/chakrator.d.ts";
import { apiWriter } from "./api-writer.ts";
import { ownerLabel } from "./children.ts";
import { watchForbiddenEvent } from "./failures.ts";
import { errorOutcome, runPipeline, type Outcome, type PipelineWriter } from "./pipeline.ts";
import { WorkQueue, type QueueMetricsProvider } from "./queue.ts";

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

/** Optional counters the engine reports to (metrics). All members may be no-ops. */
export interface EngineHooks {
  reconciled?(reconciler: string, outcome: "success" | "error" | "requeue", seconds: number): void;
  sandboxFailure?(reconciler: string, kind: "timeout" | "memory"): void;
  watchRestarted?(kind: string): void;
  /** Gives each reconciler's work queue its metrics hooks (client-go's MetricsProvider). */
  queueMetrics?: QueueMetricsProvider;
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
  /** The engine's logger; each controller adds its reconciler, each pass its revision (and the pipeline the resource). */
  log: Logger;
  hooks?: EngineHooks;
  /** Concurrent reconciles (different objects). */
  workers: number;
  /** Every object is reconciled at least this often. */
  resyncMs: number;
}

/** Runs one reconciler revision; see the module comment. */
export class Controller {
  #rev: ActiveRevision;
  readonly #deps: ControllerDeps;
  readonly #queue: WorkQueue;
  #forInformer!: Informer;
  readonly #owned = new Map<string, Informer>();
  /** Per owned kind, the names of objects without the owner label: with `#owned`, whether a child's name is taken. */
  readonly #names = new Map<string, Informer>();
  #workers: Promise<void>[] = [];
  #resync: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly #echoes = new Set<string>();
  /** Objects with a write of ours in flight: kind/namespace/name -> settles when it ends. */
  readonly #writing = new Map<string, Promise<void>>();
  #started = false;
  readonly #writer: PipelineWriter;
  #markStopped!: () => void;
  readonly #stopped = new Promise<void>((r) => { this.#markStopped = r; });

  constructor(deps: ControllerDeps, rev: ActiveRevision) {
    this.#deps = deps;
    this.#rev = rev;
    this.#writer = apiWriter({
      client: deps.client,
      events: deps.events,
      write: (target, write) => this.#write(target, write),
      cachedChild: (kind, namespace, name) => this.#owned.get(kindKey(kind))?.get(namespace, name),
      childrenOf: (kind, namespace, uid) => this.#owned.get(kindKey(kind))?.list(namespace, { [ownerLabel]: uid }),
      nameTaken: (kind, namespace, name) => {
        const names = this.#names.get(kindKey(kind));
        // Only a cache whose watch is open is trusted to say a name is free.
        return names?.hasSynced && names.watching ? names.get(namespace, name) !== undefined : undefined;
      },
    });
    this.#queue = new WorkQueue({ metrics: deps.hooks?.queueMetrics?.queue(rev.reconciler) });
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
    const log = this.#deps.log.child({ reconciler: rev.reconciler });
    const restart = (kind: string) => (why: string) => {
      this.#deps.hooks?.watchRestarted?.(kind);
      log.warn(`watch of ${kind} restarted: ${why}`);
    };
    const onError = (kind: string) => (err: unknown, attempt: number) => {
      log.log(attempt > 3 ? "error" : "warn", `watch of ${kind} failed (attempt ${attempt}): ${err instanceof Error ? err.message : String(err)}`);
      // A forbidden watch never heals by itself and keeps this reconciler from starting:
      // say so where `kubectl describe configmap` shows it.
      if (err instanceof KubeApiError && err.status === 403 && attempt % 10 === 1) {
        const who = this.#rev.serviceAccount !== undefined && this.#deps.impersonate ? `its ServiceAccount ${this.#rev.serviceAccount}` : "the operator";
        const { ref, spec } = watchForbiddenEvent(rev.reconciler, kind, who, rev.namespace, err);
        void (this.#deps.operatorEvents ?? this.#deps.events).record(ref, spec);
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
      // Names of the objects of the kind without the owner label (the labelled ones are
      // in the cache above), so that a new child's first write needs no read to know its
      // name is free (api-writer.ts). Its watch carries none of our children's events.
      // No events: it enqueues nothing.
      const names: ConstructorParameters<typeof Informer>[1] = {
        apiVersion: kind.apiVersion,
        kind: kind.kind,
        labelSelector: `!${ownerLabel}`,
        namesOnly: true,
        onRestart: restart(`${kind.kind} (names)`),
        onError: onError(kind.kind),
      };
      if (rev.namespace !== undefined) names.namespace = rev.namespace;
      this.#names.set(kindKey(kind), new Informer(client, names));
    }
    const informers = [this.#forInformer, ...this.#owned.values()];
    for (const i of informers) i.start();
    // Not waited for: until a names cache has synced (or while its watch is down) a new
    // child's first write reads its name instead, as it did before the cache existed.
    for (const i of this.#names.values()) i.start();
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
    for (const i of this.#names.values()) i.stop();
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
        outcome = errorOutcome(err);
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
    const [namespace, name] = splitKey(key);
    const obj = this.#forInformer.get(namespace, name);
    if (!obj) return { type: "gone" };
    const rev = this.#rev;
    return runPipeline({
      obj, rev, sandbox: this.#deps.sandbox, writer: this.#writer, reads: this.#reads(obj), client: this.#deps.client,
      log: this.#deps.log.child({ reconciler: rev.reconciler, revision: rev.number }),
      sandboxFailure: (reconciler, kind) => this.#deps.hooks?.sandboxFailure?.(reconciler, kind),
    });
  }

  /** ctx.get/list of one call: reads only declared kinds, from the caches. */
  #reads(obj: KubeObject): Pick<HostBridge, "get" | "list"> {
    const informerOf = (kind: KindRef): Informer => {
      const informer = kind && typeof kind === "object" ? this.informerFor(kind) : undefined;
      if (!informer) throw new Error(`ctx.get/list: kind ${kind?.apiVersion}/${kind?.kind} is not declared in for or owns`);
      return informer;
    };
    return {
      get: async (kind, name, namespace) => informerOf(kind).get(namespace ?? obj.metadata.namespace, name) as Resource | undefined,
      list: async (kind, options) => informerOf(kind).list(options?.namespace, options?.labels) as Resource[],
    };
  }
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
