/**
 * The pipeline's writer for a live cluster: children by server-side apply (after the
 * scope and adoption checks), pruning by uid-guarded delete, status by merge patch on
 * the status subresource, the finalizer by JSON patches, Events through the recorder.
 *
 * The controller owns the caches and the echo filter: it hands in `write` (which
 * tracks a write in flight and remembers its resourceVersion as an echo) and the
 * cache lookups. Everything here acts as the reconciler's client (its ServiceAccount
 * when the engine impersonates).
 */
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { KindRef } from "../../types/chakrator.d.ts";
import { adoptionConflict, ChildConflictError, childrenToPrune, fieldManager, InvalidChildError, needsApply } from "./children.ts";
import { ApplyError, describeError } from "./failures.ts";
import { finalizerName } from "./finalizer.ts";
import type { PipelineWriter } from "./pipeline.ts";
import { statusPatch, type ReadyCondition } from "./status.ts";

export interface ApiWriterDeps {
  client: KubeClient;
  events: EventRecorder;
  /** Runs one write of ours to `target` (the controller's echo tracking). */
  write<T extends KubeObject>(target: KubeObject, write: () => Promise<T>): Promise<T>;
  /** The cached child of `kind` named so, if this revision watches `kind`. */
  cachedChild(kind: KindRef, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Cached objects of `kind` labelled as children of the owner with `uid`; undefined when `kind` is not watched. */
  childrenOf(kind: KindRef, namespace: string | undefined, uid: string): KubeObject[] | undefined;
  /**
   * Whether an object of `kind` without the owner label holds the name (the labelled ones
   * are `cachedChild`'s), by a names-only cache; undefined when there is none, or its
   * watch is not open.
   */
  nameTaken?(kind: KindRef, namespace: string | undefined, name: string): boolean | undefined;
}

/** The live cluster writer; see the module comment. */
export function apiWriter(deps: ApiWriterDeps): PipelineWriter {
  const { client } = deps;
  return {
    async addFinalizer(obj) {
      const ops: unknown[] = [{ op: "test", path: "/metadata/resourceVersion", value: obj.metadata.resourceVersion }];
      ops.push(obj.metadata.finalizers ? { op: "add", path: "/metadata/finalizers/-", value: finalizerName } : { op: "add", path: "/metadata/finalizers", value: [finalizerName] });
      return deps.write(obj, () => client.patch(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace, ops, "json"));
    },

    /** On a conflict, retries on a fresh read (up to 5 times). */
    async removeFinalizer(obj) {
      let current: KubeObject | undefined = obj;
      for (let attempt = 0; current && attempt < 5; attempt++) {
        const i = current.metadata.finalizers?.indexOf(finalizerName) ?? -1;
        if (i < 0) return;
        try {
          await client.patch(current.apiVersion, current.kind, current.metadata.name, current.metadata.namespace, [
            { op: "test", path: `/metadata/finalizers/${i}`, value: finalizerName },
            { op: "remove", path: `/metadata/finalizers/${i}` },
          ], "json");
          return;
        } catch (err: unknown) {
          if (!(err instanceof KubeApiError) || (err.status !== 409 && err.status !== 422)) throw err;
          current = await client.get(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace);
        }
      }
    },

    async applyChildren(parent, desired) {
      const todo = desired
        .map((d) => ({ d, cached: deps.cachedChild(d, d.metadata.namespace, d.metadata.name) }))
        .filter(({ d, cached }) => needsApply(d, cached));
      /** Checks that `parent` may write the object that holds `d`'s name (read live unless given). */
      const mayWrite = async (d: KubeObject, live?: KubeObject) => {
        live ??= await client.get(d.apiVersion, d.kind, d.metadata.name, d.metadata.namespace);
        const conflict = live === undefined ? undefined : adoptionConflict(parent, live);
        if (conflict !== undefined) throw new ChildConflictError(conflict);
      };
      // Before the first write of a child, make sure its name is not a foreign object's:
      // the children cache holds only labelled objects, the names cache the names of the
      // others. When neither holds the name, nothing is read: the child is applied
      // without force, so an object that appeared meanwhile with other values makes the
      // apply fail (409) instead of being taken over, and is then judged like any other.
      const fresh = new Set<KubeObject>();
      await Promise.all(todo.map(async ({ d, cached }) => {
        const info = await client.resource(d.apiVersion, d.kind);
        if (!info.namespaced && parent.metadata.namespace !== undefined) {
          throw new InvalidChildError(`${d.kind} ${d.metadata.name}: ${d.kind} is cluster-scoped, and a namespaced ${parent.kind} cannot own it`);
        }
        if (cached === undefined && deps.nameTaken?.(d, d.metadata.namespace, d.metadata.name) === false) fresh.add(d);
        else await mayWrite(d, cached);
      }));
      await Promise.all(todo.map(async ({ d }) => {
        const apply = (force: boolean) => deps.write(d, () => client.apply(d, { fieldManager, force }));
        try {
          if (!fresh.has(d)) {
            await apply(true);
            return;
          }
          try {
            await apply(false);
          } catch (err: unknown) {
            // Conflicting fields (409) or a second controller reference (422): someone holds the name.
            if (!(err instanceof KubeApiError) || (err.status !== 409 && err.status !== 422)) throw err;
            await mayWrite(d);
            await apply(true);
          }
        } catch (err: unknown) {
          if (err instanceof ChildConflictError) throw err;
          throw new ApplyError(`apply ${d.kind} ${d.metadata.name}: ${describeError(err, client)}`, { cause: err });
        }
      }));
      return todo.length;
    },

    async pruneChildren(owner, desired, owns) {
      let pruned = 0;
      for (const kind of owns) {
        const live = deps.childrenOf(kind, owner.metadata.namespace, owner.metadata.uid ?? "");
        if (live === undefined) continue;
        for (const c of childrenToPrune(owner, live, desired)) {
          const opts: { uid?: string; propagationPolicy: "Background" } = { propagationPolicy: "Background" };
          if (c.metadata.uid) opts.uid = c.metadata.uid;
          await client.delete(c.apiVersion, c.kind, c.metadata.name, c.metadata.namespace, opts);
          pruned++;
        }
      }
      return pruned;
    },

    async writeStatus(obj, userStatus, ready: ReadyCondition) {
      const patch = statusPatch(obj, userStatus, ready, new Date());
      if (!patch) return;
      await deps.write(obj, () => client.patch(obj.apiVersion, obj.kind, obj.metadata.name, obj.metadata.namespace, patch, "merge", "status"));
    },

    event(obj, spec) {
      void deps.events.record(obj, spec);
    },
  };
}
