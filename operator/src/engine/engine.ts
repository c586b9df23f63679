/**
 * The engine: one `Controller` per active reconciler.
 *
 * `activate` is called by the source manager for each accepted revision. A revision
 * that keeps `for`, `owns` and namespace swaps into the running controller (caches
 * kept, every object re-enqueued); one that changes them gets a new controller and
 * the old one is stopped — new watches start, old ones end, no process restart.
 * `activate` returns at once; caches sync in the background, so a kind whose CRD is
 * not installed yet only delays that reconciler (its informer retries and says so).
 */
import { kindKey } from "../kube/kind-ref.ts";
import { Controller, type ActiveRevision, type ControllerDeps } from "./controller.ts";

export type { ActiveRevision, ControllerDeps, EngineHooks } from "./controller.ts";

/** Runs controllers for reconcilers; see the module comment. */
export class Engine {
  readonly #deps: ControllerDeps;
  readonly #controllers = new Map<string, Controller>();
  readonly #starting = new Map<string, Promise<void>>();
  #paused: boolean;
  /** Set by `stop`, for good: a leadership gained during shutdown must not start anything. */
  #stopped = false;

  /** With `paused`, controllers are built but not started until `resume()` (leader election). */
  constructor(deps: ControllerDeps, options: { paused?: boolean } = {}) {
    this.#deps = deps;
    this.#paused = options.paused ?? false;
  }

  /** Starts or swaps the controller of `rev.reconciler`. */
  async activate(rev: ActiveRevision): Promise<void> {
    const current = this.#controllers.get(rev.reconciler);
    if (current && sameShape(current.revision, rev)) {
      current.swap(rev);
      return;
    }
    const next = new Controller(this.#depsFor(rev), rev);
    this.#controllers.set(rev.reconciler, next);
    if (current) void this.#stopController(current);
    if (!this.#paused) this.#start(rev.reconciler, next);
  }

  /** Stops the controller of `reconciler` (its ConfigMap was deleted). */
  async remove(reconciler: string): Promise<void> {
    const current = this.#controllers.get(reconciler);
    this.#controllers.delete(reconciler);
    if (current) await this.#stopController(current);
  }

  /** Starts every controller (on becoming leader). */
  resume(): void {
    if (!this.#paused || this.#stopped) return;
    this.#paused = false;
    for (const [name, c] of this.#controllers) this.#start(name, c);
  }

  /** Stops all controllers, letting in-flight reconciles finish within `drainMs`. */
  async stop(drainMs = 30_000): Promise<void> {
    this.#paused = true;
    this.#stopped = true;
    await Promise.all([...this.#controllers.values()].map((c) => c.stop(drainMs)));
  }

  /** The running controller of `reconciler`, if any. */
  controller(reconciler: string): Controller | undefined {
    return this.#controllers.get(reconciler);
  }

  /** Resolves when every controller's caches have synced. */
  async synced(): Promise<void> {
    await Promise.all(this.#starting.values());
  }

  /** True when every started controller has synced. */
  get isSynced(): boolean {
    return this.#starting.size === 0 || [...this.#controllers.values()].every((c) => c.isStarted);
  }

  /**
   * The controller's dependencies: with `impersonate`, a client and an Event recorder
   * that act as the revision's ServiceAccount, so every request made for this
   * reconciler (watches, applies, prunes, status, finalizers, Events on its resources)
   * is authorized as that ServiceAccount, never as the operator.
   */
  #depsFor(rev: ActiveRevision): ControllerDeps {
    const deps = this.#deps;
    if (!deps.impersonate || rev.serviceAccount === undefined) return deps;
    const [namespace, name] = rev.serviceAccount.split("/") as [string, string];
    // No Impersonate-Group: for a ServiceAccount the API server adds its groups itself,
    // and the operator then needs `impersonate` on serviceaccounts only, not on groups.
    const client = deps.client.impersonating(`system:serviceaccount:${namespace}:${name}`, []);
    return { ...deps, client, events: deps.eventsFor?.(client) ?? deps.events };
  }

  #start(name: string, c: Controller): void {
    if (this.#stopped) return;
    const p = c.start().catch((err: unknown) => {
      this.#deps.log.child({ reconciler: name }).error(`controller failed to start: ${err instanceof Error ? err.message : String(err)}`);
    }).finally(() => {
      if (this.#starting.get(name) === p) this.#starting.delete(name);
    });
    this.#starting.set(name, p);
  }

  async #stopController(c: Controller): Promise<void> {
    await c.stop(10_000);
  }
}

function sameShape(a: ActiveRevision, b: ActiveRevision): boolean {
  // A new identity means new watches: a cache filled as one ServiceAccount must never
  // serve another, which may not be allowed to see the same objects.
  return a.namespace === b.namespace && a.serviceAccount === b.serviceAccount &&
    kindKey(a.for) === kindKey(b.for) &&
    a.owns.map(kindKey).sort().join(",") === b.owns.map(kindKey).sort().join(",");
}
