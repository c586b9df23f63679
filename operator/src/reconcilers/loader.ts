/**
 * Source manager: reconciler ConfigMaps in, accepted revisions out.
 *
 * It watches ConfigMaps labelled `chakrator.dev/reconciler=true` through the API (not
 * a mounted volume, so an edit lands within a watch event), and for each one:
 *   compile + type-check -> load in the sandbox -> record the revision -> hand it on.
 * Anything that fails on the way rejects that source: the previous revision keeps
 * running, and the rejection is an Event on the ConfigMap (with the first
 * diagnostics), a log record, a notice for the editor and a metric.
 *
 * Per reconciler, work is serialized and coalesced: while one source is processed,
 * only the newest of the edits that arrive meanwhile is processed next.
 */
import { createHash } from "node:crypto";
import type { KubeClient, KubeObject } from "../kube/client.ts";
import type { EventRecorder } from "../kube/events.ts";
import { Informer, objectKey } from "../kube/informer.ts";
import { sameKind } from "../kube/kind-ref.ts";
import { isDnsSubdomain } from "../kube/names.ts";
import { LoadError, type LoadedRevision, type RevisionRunner } from "../sandbox/index.ts";
import type { Logger } from "../telemetry/log.ts";
import type { Notice } from "../telemetry/notices.ts";
import { ChakratorCode, formatDiagnostics, type Diagnostic } from "./compile-diagnostics.ts";
import { ENTRY, kubectlYamlAdvice } from "./compile-input.ts";
import type { Compiler } from "./compile-process.ts";
import { recordRevision, reconcilerLabel, sourceFiles, type ConfigMap } from "./revisions.ts";

export const timeoutAnnotation = "chakrator.dev/timeout-ms";
export const memoryAnnotation = "chakrator.dev/memory-mb";
/** RSS cap of the reconciler's sandbox host (MiB); default from the isolate limit, within the operator's global cap. */
export const hostMemoryAnnotation = "chakrator.dev/host-memory-mb";
/**
 * The ServiceAccount (in the ConfigMap's own namespace) a reconciler acts as: every
 * request made for it impersonates `system:serviceaccount:<namespace>:<name>`.
 */
export const serviceAccountAnnotation = "chakrator.dev/service-account";
/** `"*"` makes a reconciler watch its kind in every namespace; default: its own namespace. */
export const scopeAnnotation = "chakrator.dev/watch-namespace";

/** An accepted, loaded, recorded revision. */
export interface AcceptedRevision {
  reconciler: string;
  number: number;
  hash: string;
  /** Hash plus the settings annotations: what decides whether anything changed. */
  fingerprint: string;
  sandboxId: string;
  loaded: LoadedRevision;
  namespace: string | undefined;
  /** `namespace/name` of the ServiceAccount it acts as. */
  serviceAccount: string;
}

/** What the editor and /readyz want to know about one reconciler. */
export interface ReconcilerState {
  reconciler: string;
  namespace: string;
  name: string;
  resourceVersion: string;
  active?: { number: number; hash: string; for: LoadedRevision["for"]; owns: LoadedRevision["owns"]; hasFinalize: boolean; acceptedAt: string };
  lastRejection?: { hash: string; resourceVersion: string; at: string; diagnostics: Diagnostic[] };
}

export interface ReconcilerLoaderOptions {
  client: KubeClient;
  compiler: Compiler;
  /** Each reconciler's revisions load into a host of its own (`host`: the reconciler key). */
  sandbox: RevisionRunner;
  events: EventRecorder;
  /** The operator's logger; the loader adds each record's reconciler (and revision). */
  log: Logger;
  /** Watch one namespace; undefined for all. */
  namespace?: string;
  /** With `namespace` unset: take reconciler ConfigMaps from these namespaces only (an allow-list). */
  namespaces?: readonly string[];
  /** Revisions kept per reconciler. */
  keep: number;
  /** ServiceAccount of a reconciler ConfigMap without the annotation (in its namespace). Default "default". */
  defaultServiceAccount?: string;
  /** Activates a revision (the engine). Must not wait for caches to sync. */
  onAccepted: (rev: AcceptedRevision, previous: AcceptedRevision | undefined) => Promise<void>;
  onRemoved: (reconciler: string, previous: AcceptedRevision | undefined) => Promise<void>;
  onNotice?: (n: Notice) => void;
  onRejected?: (reconciler: string) => void;
}

/** Turns reconciler ConfigMaps into revisions; see the module comment. */
export class ReconcilerLoader {
  readonly #o: ReconcilerLoaderOptions;
  readonly #informer: Informer;
  readonly #states = new Map<string, ReconcilerState>();
  readonly #active = new Map<string, AcceptedRevision>();
  /** Fingerprint of the last rejected source per reconciler: the same one is not re-judged. */
  readonly #rejected = new Map<string, string>();
  readonly #pending = new Map<string, ConfigMap | null>();
  readonly #running = new Set<string>();
  #idle: Array<() => void> = [];

  constructor(options: ReconcilerLoaderOptions) {
    this.#o = options;
    const informerOptions: ConstructorParameters<typeof Informer>[1] = {
      apiVersion: "v1",
      kind: "ConfigMap",
      labelSelector: `${reconcilerLabel}=true`,
      keepManagedFields: true,
      onEvent: (type, obj) => this.#onEvent(type, obj as ConfigMap),
      onError: (err, attempt) => options.log.log(attempt > 3 ? "error" : "warn", `watch of reconciler ConfigMaps failed (attempt ${attempt}): ${String(err)}`),
    };
    if (options.namespace !== undefined) informerOptions.namespace = options.namespace;
    this.#informer = new Informer(options.client, informerOptions);
  }

  start(): void {
    this.#informer.start();
  }

  stop(): void {
    this.#informer.stop();
  }

  /** Resolves when the first list was seen and every source in it was processed. */
  async synced(): Promise<void> {
    await this.#informer.synced;
    await this.idle();
  }

  /** Resolves when no source is being processed. */
  idle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /** Snapshot of every known reconciler, sorted by name. */
  states(): ReconcilerState[] {
    return [...this.#states.values()].sort((a, b) => a.reconciler.localeCompare(b.reconciler));
  }

  state(reconciler: string): ReconcilerState | undefined {
    return this.#states.get(reconciler);
  }

  /** The live reconciler ConfigMap from the cache. */
  configMap(namespace: string, name: string): ConfigMap | undefined {
    return this.#informer.get(namespace, name) as ConfigMap | undefined;
  }

  #onEvent(type: "add" | "update" | "delete", cm: ConfigMap): void {
    const allowed = this.#o.namespaces;
    if (allowed !== undefined && allowed.length > 0 && !allowed.includes(cm.metadata.namespace ?? "")) return;
    const key = objectKey(cm.metadata.namespace, cm.metadata.name);
    if (type !== "delete") {
      const managers = (cm.metadata.managedFields ?? []) as Array<{ manager?: string; time?: string }>;
      const latest = [...managers].sort((a, b) => (a.time ?? "").localeCompare(b.time ?? "")).at(-1);
      const notice: Notice = { type: "source-changed", reconciler: key, resourceVersion: cm.metadata.resourceVersion ?? "" };
      if (latest?.manager) notice.by = latest.manager;
      this.#o.onNotice?.(notice);
    }
    this.#enqueue(key, type === "delete" ? null : cm);
  }

  /** Queues the newest state of `key` (null: deleted) for processing. */
  #enqueue(key: string, cm: ConfigMap | null): void {
    this.#pending.set(key, cm);
    if (!this.#running.has(key)) void this.#drain(key);
  }

  async #drain(key: string): Promise<void> {
    this.#running.add(key);
    try {
      while (this.#pending.has(key)) {
        const cm = this.#pending.get(key) ?? null;
        this.#pending.delete(key);
        try {
          if (cm) await this.#process(key, cm);
          else await this.#remove(key);
        } catch (err: unknown) {
          this.#o.log.child({ reconciler: key }).error(`processing reconciler source failed: ${err instanceof Error ? err.message : String(err)}; retrying in 5 s`);
          // Retry the current state from the cache: not a change (no notice), and nothing
          // at all if the ConfigMap was deleted meanwhile (its delete was handled).
          if (cm) {
            setTimeout(() => {
              const now = this.#informer.get(cm.metadata.namespace, cm.metadata.name) as ConfigMap | undefined;
              if (now && !this.#pending.has(key)) this.#enqueue(key, now);
            }, 5_000).unref();
          }
        }
      }
    } finally {
      this.#running.delete(key);
      if (this.#running.size === 0) for (const r of this.#idle.splice(0)) r();
    }
  }

  async #process(key: string, cm: ConfigMap): Promise<void> {
    const state: ReconcilerState = this.#states.get(key) ?? { reconciler: key, namespace: cm.metadata.namespace ?? "", name: cm.metadata.name, resourceVersion: "" };
    state.resourceVersion = cm.metadata.resourceVersion ?? "";
    this.#states.set(key, state);
    const result = await this.#o.compiler.compile(cm.data ?? {});
    const previous = this.#active.get(key);
    // Source and settings annotations together: a changed limit or scope alone counts.
    const fingerprint = fingerprintOf(cm, result.hash);
    if (previous?.fingerprint === fingerprint) return;
    if (this.#rejected.get(key) === fingerprint) return;
    // Accepted or not, a source kubectl edit will show as one escaped line is worth a note.
    const advice = kubectlYamlAdvice(cm.data ?? {});
    if (advice !== undefined) void this.#o.events.record(cm, { type: "Normal", reason: "SourceNotBlockYAML", message: advice });
    if (!result.ok) return this.#reject(key, cm, result.hash, result.diagnostics);

    const limits = parseLimits(cm);
    if ("error" in limits) return this.#reject(key, cm, result.hash, [limits.error]);
    // Settings are judged before the load: a bad one costs no isolate.
    const account = cm.metadata.annotations?.[serviceAccountAnnotation] ?? this.#o.defaultServiceAccount ?? "default";
    if (!isDnsSubdomain(account)) {
      return this.#reject(key, cm, result.hash, [{ file: "", line: 0, column: 0, code: ChakratorCode.InvalidAnnotation, severity: "error", message: `annotation ${serviceAccountAnnotation}: "${account}" is not a ServiceAccount name` }]);
    }
    const serviceAccount = `${cm.metadata.namespace ?? ""}/${account}`;
    const sandboxId = `${key}@${createHash("sha256").update(fingerprint).digest("hex").slice(0, 16)}`;
    let loaded: LoadedRevision;
    try {
      loaded = await this.#o.sandbox.load({ id: sandboxId, modules: result.modules, entry: result.entry, limits: limits.value, host: key });
    } catch (err: unknown) {
      if (!(err instanceof LoadError)) throw err;
      return this.#reject(key, cm, result.hash, [loadDiagnostic(err)]);
    }
    const namespace = cm.metadata.annotations?.[scopeAnnotation] === "*" ? undefined : cm.metadata.namespace;
    const clash = [...this.#active.values()].find((a) => a.reconciler !== key && sameKind(a.loaded.for, loaded.for) && (a.namespace === undefined || namespace === undefined || a.namespace === namespace));
    if (clash) {
      await this.#o.sandbox.unload(sandboxId);
      return this.#reject(key, cm, result.hash, [{ file: ENTRY, line: 1, column: 1, code: ChakratorCode.KindAlreadyReconciled, severity: "error", message: `${loaded.for.apiVersion}/${loaded.for.kind} is already reconciled by ${clash.reconciler} in ${clash.namespace ?? "all namespaces"}; one kind has one reconciler per namespace` }]);
    }
    const { number, created } = await recordRevision(this.#o.client, cm, sourceFiles(cm.data), result.hash, this.#o.keep);
    const rev: AcceptedRevision = { reconciler: key, number, hash: result.hash, fingerprint, sandboxId, loaded, namespace, serviceAccount };
    await this.#o.onAccepted(rev, previous);
    this.#active.set(key, rev);
    if (previous && previous.sandboxId !== sandboxId) void this.#o.sandbox.unload(previous.sandboxId);
    delete state.lastRejection;
    this.#rejected.delete(key);
    state.active = { number, hash: result.hash, for: loaded.for, owns: loaded.owns, hasFinalize: loaded.hasFinalize, acceptedAt: new Date().toISOString() };
    const what = `revision ${number} (${result.hash.slice(0, 12)}) accepted: reconciles ${loaded.for.apiVersion}/${loaded.for.kind} in ${namespace ?? "all namespaces"}`;
    this.#o.log.child({ reconciler: key, revision: number }).info(what);
    // Only a new revision is news; after a restart the running one is re-adopted silently.
    if (created) void this.#o.events.record(cm, { type: "Normal", reason: "RevisionAccepted", message: what });
    this.#o.onNotice?.({ type: "revision-accepted", reconciler: key, revision: number, hash: result.hash });
  }

  #reject(key: string, cm: ConfigMap, hash: string, diagnostics: Diagnostic[]): void {
    const state = this.#states.get(key)!;
    state.lastRejection = { hash, resourceVersion: cm.metadata.resourceVersion ?? "", at: new Date().toISOString(), diagnostics };
    this.#rejected.set(key, fingerprintOf(cm, hash));
    const running = this.#active.get(key);
    const keeps = running ? `revision ${running.number} keeps running` : "no revision is running";
    const text = formatDiagnostics(diagnostics, 5);
    this.#o.log.child({ reconciler: key }).error(`source rejected (${keeps}):\n${text}`, { hash, diagnostics });
    void this.#o.events.record(cm, { type: "Warning", reason: "RevisionRejected", message: `${keeps}; ${text}` });
    this.#o.onNotice?.({ type: "revision-rejected", reconciler: key, hash, diagnostics });
    this.#o.onRejected?.(key);
  }

  async #remove(key: string): Promise<void> {
    const previous = this.#active.get(key);
    this.#active.delete(key);
    this.#rejected.delete(key);
    this.#states.delete(key);
    await this.#o.onRemoved(key, previous);
    if (previous) await this.#o.sandbox.unload(previous.sandboxId);
    this.#o.log.child({ reconciler: key }).info(previous
      ? `reconciler ConfigMap deleted: stopped revision ${previous.number}; ${previous.loaded.for.kind} resources are no longer reconciled (their children stay)`
      : "reconciler ConfigMap deleted");
    this.#o.onNotice?.({ type: "reconciler-removed", reconciler: key });
  }
}

function fingerprintOf(cm: KubeObject, hash: string): string {
  return [hash, ...[timeoutAnnotation, memoryAnnotation, hostMemoryAnnotation, scopeAnnotation, serviceAccountAnnotation].map((a) => cm.metadata.annotations?.[a] ?? "")].join("\u0000");
}


function parseLimits(cm: KubeObject): { value: { timeoutMs?: number; memoryMb?: number; hostMemoryMb?: number } } | { error: Diagnostic } {
  const value: { timeoutMs?: number; memoryMb?: number; hostMemoryMb?: number } = {};
  for (const [annotation, field] of [[timeoutAnnotation, "timeoutMs"], [memoryAnnotation, "memoryMb"], [hostMemoryAnnotation, "hostMemoryMb"]] as const) {
    const raw = cm.metadata.annotations?.[annotation];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) {
      return { error: { file: "", line: 0, column: 0, code: ChakratorCode.InvalidAnnotation, severity: "error", message: `annotation ${annotation}: "${raw}" is not a positive integer` } };
    }
    value[field] = n;
  }
  return { value };
}

function loadDiagnostic(err: LoadError): Diagnostic {
  const m = /(?:\(|\s)([\w./-]+\.ts):(\d+):(\d+)/.exec(err.stack ?? err.message);
  return {
    file: m?.[1] ?? ENTRY,
    line: m ? Number(m[2]) : 1,
    column: m ? Number(m[3]) : 1,
    code: ChakratorCode.LoadFailed,
    severity: "error",
    message: `module failed when loaded: ${err.message}`,
  };
}
