/**
 * A supervised informer: list, then watch from the list's resourceVersion, keeping a
 * cache of one kind (in one namespace or all) and telling a handler what changed.
 *
 * Unlike `@kubernetes/client-node`'s informer, it never stops by itself:
 * - a watch the server ends (its timeout) or that goes quiet is re-opened from the
 *   last resourceVersion seen (bookmarks keep that fresh);
 * - `410 Gone` (the resourceVersion is too old) triggers a relist;
 * - any other failure (network, 5xx, 403, a vanished CRD) is reported through
 *   `onError`, then retried with capped, jittered backoff and a relist.
 * A relist diffs the new list against the cache and reports adds, updates and deletes,
 * so nothing that happened while disconnected is lost — deletions included.
 *
 * Handlers run synchronously in event order; they should only enqueue work.
 */
import { KubeApiError, KubeClient, METADATA_ONLY, type KubeObject } from "./client.ts";

export type InformerEvent = "add" | "update" | "delete";

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  /** Omit for all namespaces. */
  namespace?: string;
  labelSelector?: string;
  onEvent?: (type: InformerEvent, obj: KubeObject, old: KubeObject | undefined) => void;
  /** Called for each failure before the retry; the informer keeps going. */
  onError?: (err: unknown, attempt: number) => void;
  /** Called when the watch is re-opened after a failure or a relist is forced. */
  onRestart?: (why: string) => void;
  /** A watch with no bytes for this long is treated as dead. Default 5 min. */
  idleTimeoutMs?: number;
  /** Backoff after failures: from 800 ms doubling to this cap. Default 30 s. */
  maxBackoffMs?: number;
  /**
   * Keep `metadata.managedFields` in the cache. Default false: they are often larger
   * than the rest of the object and only the source manager reads them (who edited).
   */
  keepManagedFields?: boolean;
  /** A label to index: `list()` with a selector on it reads the index instead of scanning. */
  indexLabel?: string;
  /**
   * Know only what exists: list and watch metadata alone (PartialObjectMetadata) and
   * keep of each object its name, namespace and resourceVersion, for a few dozen
   * bytes per object. The engine asks such a cache whether a child's name is taken
   * before the child's first write (api-writer.ts).
   */
  namesOnly?: boolean;
}

/** Cache key of an object: `namespace/name`, or `name` for cluster-scoped ones. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** `Kind namespace/name`, as logs and messages name a resource. */
export function resourceName(obj: KubeObject): string {
  return `${obj.kind} ${objectKey(obj.metadata.namespace, obj.metadata.name)}`;
}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject & { code?: number; reason?: string; message?: string };
}

/** One kind's list+watch loop and cache. `start()` it; `synced` resolves after the first list. */
export class Informer {
  readonly options: InformerOptions;
  readonly #client: KubeClient;
  readonly #store = new Map<string, KubeObject>();
  readonly #index = new Map<string, Map<string, KubeObject>>();
  readonly #abort = new AbortController();
  #resourceVersion: string | undefined;
  #running = false;
  #resolveSynced!: () => void;
  /** Resolves once the cache holds a complete list. */
  readonly synced: Promise<void>;
  #hasSynced = false;
  #watching = false;

  constructor(client: KubeClient, options: InformerOptions) {
    this.#client = client;
    this.options = options;
    this.synced = new Promise((r) => { this.#resolveSynced = r; });
  }

  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  /**
   * True while a watch is open: the cache then trails the server only by the watch's
   * delivery. False between a watch's end and the next one's answer, and while failing.
   */
  get watching(): boolean {
    return this.#watching;
  }

  /** The last resourceVersion the cache reflects. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /** Starts the loop (idempotent). It runs until `stop()`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#run();
  }

  /** Stops the loop and closes the watch. The cache stays readable. */
  stop(): void {
    this.#abort.abort();
  }

  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /** A cached object, or undefined. Treat it as read-only. */
  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#store.get(objectKey(namespace, name));
  }

  /** Cached objects, optionally filtered by namespace and an equality label selector. */
  list(namespace?: string, labels?: Record<string, string>): KubeObject[] {
    const out: KubeObject[] = [];
    const indexed = this.options.indexLabel !== undefined ? labels?.[this.options.indexLabel] : undefined;
    const candidates = indexed !== undefined ? (this.#index.get(indexed)?.values() ?? []) : this.#store.values();
    for (const obj of candidates) {
      if (namespace !== undefined && obj.metadata.namespace !== namespace) continue;
      if (labels && !Object.entries(labels).every(([k, v]) => obj.metadata.labels?.[k] === v)) continue;
      out.push(obj);
    }
    return out;
  }

  get size(): number {
    return this.#store.size;
  }

  async #run(): Promise<void> {
    let attempt = 0;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) await this.#relist();
        attempt = 0;
        await this.#watch();
      } catch (err: unknown) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          this.#resourceVersion = undefined;
          this.options.onRestart?.("resourceVersion expired (410 Gone): relisting");
          continue;
        }
        attempt++;
        this.options.onError?.(err, attempt);
        const cap = this.options.maxBackoffMs ?? 30_000;
        const delay = Math.min(cap, 800 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        await sleep(delay, signal);
        // After a failure we cannot know what we missed cheaply; the relist diff tells us.
        this.#resourceVersion = undefined;
        this.options.onRestart?.(`retrying after: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  async #relist(): Promise<void> {
    const { apiVersion, kind, namespace, labelSelector } = this.options;
    const listOptions: Parameters<KubeClient["list"]>[2] = { signal: this.#abort.signal };
    if (namespace !== undefined) listOptions.namespace = namespace;
    if (labelSelector !== undefined) listOptions.labelSelector = labelSelector;
    if (this.options.namesOnly) listOptions.metadataOnly = true;
    const list = await this.#client.list(apiVersion, kind, listOptions);
    const seen = new Set<string>();
    for (const obj of list.items) {
      const key = objectKey(obj.metadata.namespace, obj.metadata.name);
      seen.add(key);
      this.#upsert(key, obj);
    }
    for (const [key, old] of [...this.#store]) {
      if (!seen.has(key)) {
        this.#remove(key);
        this.options.onEvent?.("delete", old, old);
      }
    }
    this.#resourceVersion = list.metadata.resourceVersion;
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#resolveSynced();
    }
  }

  #set(key: string, obj: KubeObject): void {
    this.#remove(key);
    this.#store.set(key, obj);
    const v = this.options.indexLabel !== undefined ? obj.metadata.labels?.[this.options.indexLabel] : undefined;
    if (v !== undefined) {
      let bucket = this.#index.get(v);
      if (!bucket) this.#index.set(v, (bucket = new Map()));
      bucket.set(key, obj);
    }
  }

  #remove(key: string): void {
    const old = this.#store.get(key);
    if (!old) return;
    this.#store.delete(key);
    const v = this.options.indexLabel !== undefined ? old.metadata.labels?.[this.options.indexLabel] : undefined;
    if (v === undefined) return;
    const bucket = this.#index.get(v);
    bucket?.delete(key);
    if (bucket?.size === 0) this.#index.delete(v);
  }

  #upsert(key: string, received: KubeObject): void {
    const obj = this.options.namesOnly ? nameOf(received) : received;
    if (!this.options.keepManagedFields) delete obj.metadata.managedFields;
    const old = this.#store.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.#set(key, obj);
    this.options.onEvent?.(old ? "update" : "add", obj, old);
  }

  async #watch(): Promise<void> {
    const { apiVersion, kind, namespace, labelSelector } = this.options;
    const info = await this.#client.resource(apiVersion, kind);
    // Like client-go: ask the server to end the watch after 5-10 min, spreading reconnects.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    try {
      await this.#client.stream(
        KubeClient.path(info, namespace),
        { watch: 1, allowWatchBookmarks: true, resourceVersion: this.#resourceVersion, labelSelector, timeoutSeconds },
        (line) => this.#onWatchEvent(line as WatchEvent, apiVersion, kind),
        {
          signal: this.#abort.signal,
          idleTimeoutMs: this.options.idleTimeoutMs ?? 300_000,
          onOpen: () => { this.#watching = true; },
          ...(this.options.namesOnly ? { accept: METADATA_ONLY.watch } : {}),
        },
      );
    } finally {
      this.#watching = false;
    }
  }

  #onWatchEvent(ev: WatchEvent, apiVersion: string, kind: string): void {
    if (ev.type === "ERROR") {
      const status = ev.object;
      throw new KubeApiError(status.code ?? 500, status.reason ?? "WatchError", `watch ${kind}: ${status.message ?? "error event"}`);
    }
    const obj = ev.object;
    if (obj.metadata?.resourceVersion) this.#resourceVersion = obj.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") return;
    obj.apiVersion = apiVersion;
    obj.kind = kind;
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    if (ev.type === "DELETED") {
      const old = this.#store.get(key);
      this.#remove(key);
      this.options.onEvent?.("delete", obj, old);
    } else {
      this.#upsert(key, obj);
    }
  }
}

/** What a `namesOnly` cache keeps of an object. */
function nameOf(obj: KubeObject): KubeObject {
  const { name, namespace, resourceVersion } = obj.metadata;
  const metadata: KubeObject["metadata"] = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
