/**
 * Records Kubernetes Events (core/v1) about objects, as `kubectl describe` shows them.
 *
 * Like client-go's recorder it aggregates: the same (object, type, reason, message)
 * within `aggregateWindowMs` bumps the count of the Event it already wrote instead of
 * writing a new one, so a crash-looping reconciler cannot flood etcd. Recording never
 * throws and never blocks the caller: failures go to `onError`.
 */
import { hostname } from "node:os";
import { KubeApiError, type KubeClient, type KubeObject } from "./client.ts";

export interface EventSpec {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

interface Recent {
  name: string;
  namespace: string;
  count: number;
  first: string;
  at: number;
}

/** Writes Events with one component name; see the module comment. */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #instance = hostname();
  readonly #recent = new Map<string, Recent>();
  readonly #windowMs: number;
  readonly #onError: (err: unknown) => void;

  constructor(client: KubeClient, options: { component?: string; aggregateWindowMs?: number; onError?: (err: unknown) => void } = {}) {
    this.#client = client;
    this.#component = options.component ?? "chakrator";
    this.#windowMs = options.aggregateWindowMs ?? 10 * 60_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Records `spec` about `obj` (fire and forget; the returned promise never rejects). */
  record(obj: KubeObject, spec: EventSpec): Promise<void> {
    return this.#record(obj, spec).catch((err: unknown) => this.#onError(err));
  }

  async #record(obj: KubeObject, spec: EventSpec): Promise<void> {
    const namespace = obj.metadata.namespace ?? "default";
    const message = spec.message.length > 1024 ? `${spec.message.slice(0, 1021)}...` : spec.message;
    const key = [obj.metadata.uid ?? obj.metadata.name, spec.type, spec.reason, message].join("\u0000");
    const now = new Date();
    const recent = this.#recent.get(key);
    if (recent && now.getTime() - recent.at < this.#windowMs) {
      recent.count++;
      recent.at = now.getTime();
      try {
        await this.#client.patch("v1", "Event", recent.name, recent.namespace, { count: recent.count, lastTimestamp: now.toISOString() });
        return;
      } catch (err: unknown) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        // The Event expired (TTL): write a new one below.
      }
    }
    if (this.#recent.size > 5000) this.#recent.clear();
    const involved: Record<string, unknown> = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace };
    if (obj.metadata.uid) involved.uid = obj.metadata.uid;
    if (obj.metadata.resourceVersion) involved.resourceVersion = obj.metadata.resourceVersion;
    const created = await this.#client.create({
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${obj.metadata.name}.`, namespace, name: "" },
      involvedObject: involved,
      type: spec.type,
      reason: spec.reason,
      message,
      source: { component: this.#component, host: this.#instance },
      reportingComponent: this.#component,
      reportingInstance: this.#instance,
      firstTimestamp: now.toISOString(),
      lastTimestamp: now.toISOString(),
      count: 1,
    } as KubeObject);
    this.#recent.set(key, { name: created.metadata.name, namespace, count: 1, first: now.toISOString(), at: now.getTime() });
  }
}
