/**
 * Assembles the operator's stages (wiring only, no logic): kube client -> source
 * manager (ConfigMaps -> revisions) -> engine (controllers) -> sandbox. main.ts
 * reads settings and calls `Operator.start`; tests do the same against the real
 * control plane.
 */
import type { KubeCredentials } from "./kube/credentials.ts";
import { KubeClient } from "./kube/client.ts";
import { EventRecorder } from "./kube/events.ts";
import { Engine, type EngineHooks } from "./engine/engine.ts";
import { EDITOR_HOST, SandboxFleet, type FleetOptions } from "./sandbox/index.ts";
import { OpenApiReader } from "./kube/openapi.ts";
import { KindAwareCompiler } from "./reconcilers/kinds-compiler.ts";
import { KindTypings } from "./reconcilers/kinds.ts";
import { ReconcilerLoader, type AcceptedRevision } from "./reconcilers/loader.ts";
import { LogBus } from "./telemetry/log.ts";
import { NoticeChannel } from "./telemetry/notices.ts";

export interface OperatorOptions {
  kubeConfig: KubeCredentials;
  /** Namespace whose reconciler ConfigMaps are watched; undefined for all. */
  namespace?: string;
  /** Without `namespace`: only reconciler ConfigMaps in these namespaces count (an allow-list). */
  namespaces?: string[];
  /** Revisions kept per reconciler. Default 10. */
  keepRevisions?: number;
  /**
   * Act for each reconciler as the ServiceAccount its ConfigMap names (annotation
   * `chakrator.dev/service-account`, else `defaultServiceAccount`), by impersonation.
   * The operator binary (main.ts) turns this on unless `CHAKRATOR_IMPERSONATE=false`;
   * off, reconcilers act with the operator's own rights (tests of other features).
   */
  impersonate?: boolean;
  /** Default "default": the namespace's default ServiceAccount, which can do nothing unless granted. */
  defaultServiceAccount?: string;
  sandbox?: FleetOptions;
  /** Concurrent reconciles per reconciler. Default 32: workers mostly wait on the API server; the sandbox pool bounds CPU. */
  workers?: number;
  /** Periodic resync. Default 10 min. */
  resyncMs?: number;
  log?: LogBus;
  hooks?: EngineHooks;
  /** Build controllers but do not reconcile until `engine.resume()` (leader election). */
  paused?: boolean;
  onSourceRejected?: (reconciler: string) => void;
  /** A revision of `reconciler` was quarantined (metrics). */
  onQuarantined?: (reconciler: string) => void;
  onRevisionAccepted?: (rev: AcceptedRevision) => void | Promise<void>;
  /** The reconciler ConfigMap was deleted (admission drops its webhooks). */
  onReconcilerRemoved?: (reconciler: string) => void | Promise<void>;
}

/** A running operator. */
export class Operator {
  readonly client: KubeClient;
  readonly log: LogBus;
  /** Editor notices (source changed, revision accepted or rejected, reconciler removed). */
  readonly notices: NoticeChannel;
  readonly sandbox: SandboxFleet;
  readonly compiler: KindAwareCompiler;
  readonly engine: Engine;
  readonly sources: ReconcilerLoader;

  private constructor(parts: { client: KubeClient; log: LogBus; notices: NoticeChannel; sandbox: SandboxFleet; compiler: KindAwareCompiler; engine: Engine; sources: ReconcilerLoader }) {
    this.client = parts.client;
    this.log = parts.log;
    this.notices = parts.notices;
    this.sandbox = parts.sandbox;
    this.compiler = parts.compiler;
    this.engine = parts.engine;
    this.sources = parts.sources;
  }

  /** Starts every stage; resolves once the reconciler sources in the cluster were processed. */
  static async start(o: OperatorOptions): Promise<Operator> {
    const log = o.log ?? new LogBus();
    const notices = new NoticeChannel({ onListenerError: (error, n) => log.warn("notice listener threw; unsubscribed", { error: error instanceof Error ? error.message : String(error), notice: n.type }) });
    const client = KubeClient.fromKubeConfig(o.kubeConfig, { userAgent: "chakrator-operator" });
    const events = new EventRecorder(client, { onError: (err) => log.log("warn", `could not record an Event: ${err instanceof Error ? err.message : String(err)}`) });
    // One sandbox host per reconciler (started with its first revision), so that one
    // reconciler's code can never slow or break another's; editor dry runs get their own.
    let sources: ReconcilerLoader | undefined;
    const sandbox = new SandboxFleet({
      ...o.sandbox,
      onEvent: (e) => {
        o.sandbox?.onEvent?.(e);
        const hostLog = e.host === EDITOR_HOST ? log : log.child({ reconciler: e.host });
        const whose = e.host === EDITOR_HOST ? "the editor's sandbox host" : "sandbox host";
        if (e.type === "host-exited") hostLog.log("error", `${whose} (pid ${e.pid}) ${e.reason === "hung" ? "was killed as hung" : e.reason === "memory" ? "was killed over its memory limit" : `exited (${e.signal ?? `code ${e.code}`})`}; ${e.failedCalls} in-flight calls failed and will be retried; it restarts on demand`);
        else if (e.type === "host-started" && e.generation > 1) hostLog.log("info", `${whose} restarted (pid ${e.pid})`);
        else if (e.type === "host-unresponsive") hostLog.log("error", `${whose} (pid ${e.pid}) stopped answering for ${e.waitedMs} ms; killing it`);
        else if (e.type === "host-memory-limit") hostLog.log("error", `${whose} (pid ${e.pid}) reached ${Math.round(e.rssBytes / 2 ** 20)} MiB RSS, over its limit of ${Math.round(e.capBytes / 2 ** 20)} MiB; killing it`);
        else if (e.type === "isolate-disposed") hostLog.log("warn", `an isolate was disposed (${e.reason}); it is rebuilt on the next call`);
        else if (e.type === "revision-reload-failed") hostLog.log("error", `could not reload a revision into the new sandbox host: ${e.error.message}`);
        else if (e.type === "host-demoted") hostLog.log("warn", `a revision ran a call to its time limit or failed 3 calls in a row: ${whose} (pid ${e.pid}) now runs at the lowest CPU priority, until a new revision replaces that one`);
        else if (e.type === "log-rate-limited") hostLog.log("warn", `${e.dropped} log records dropped: over the rate limit of ${e.ratePerSecond} records/s`);
        else if (e.type === "event-budget-exceeded") hostLog.child({ resource: e.resource }).warn(`${e.dropped} Events not recorded: over the per-resource Event budget`);
        else if (e.type === "revision-quarantined") {
          const message = `a revision is quarantined for ${Math.round(e.durationMs / 1000)} s (quarantine ${e.count}): its sandbox host failed repeatedly, last because the host ${e.cause}; save a fixed revision or roll back`;
          hostLog.log("error", message);
          o.onQuarantined?.(e.host);
          const [namespace, name] = e.host.split("/");
          const cm = namespace !== undefined && name !== undefined ? sources?.configMap(namespace, name) : undefined;
          if (cm !== undefined) void events.record(cm, { type: "Warning", reason: "RevisionQuarantined", message });
        }
      },
    });
    // Type-checking runs in its own process: a slow or crashing check never stalls the operator.
    // Kinds are typed from the cluster's own OpenAPI v3 (source/kinds.ts).
    const compiler = new KindAwareCompiler({ kinds: new KindTypings(new OpenApiReader(client)) });
    const engine = new Engine({
      client,
      sandbox,
      events,
      operatorEvents: events,
      impersonate: o.impersonate ?? false,
      eventsFor: (as) => new EventRecorder(as, { onError: (err) => log.log("warn", `could not record an Event as ${as.impersonated ?? "the operator"}: ${err instanceof Error ? err.message : String(err)}`) }),
      log,
      workers: o.workers ?? 32,
      resyncMs: o.resyncMs ?? 10 * 60_000,
      ...(o.hooks ? { hooks: o.hooks } : {}),
    }, { paused: o.paused ?? false });
    const sourceOptions: ConstructorParameters<typeof ReconcilerLoader>[0] = {
      client,
      compiler,
      sandbox,
      events,
      keep: o.keepRevisions ?? 10,
      ...(o.defaultServiceAccount !== undefined ? { defaultServiceAccount: o.defaultServiceAccount } : {}),
      log,
      onAccepted: async (rev) => {
        await engine.activate({
          reconciler: rev.reconciler,
          number: rev.number,
          hash: rev.hash,
          sandboxId: rev.sandboxId,
          for: rev.loaded.for,
          owns: rev.loaded.owns,
          hasFinalize: rev.loaded.hasFinalize,
          namespace: rev.namespace,
          serviceAccount: rev.serviceAccount,
        });
        await o.onRevisionAccepted?.(rev);
      },
      onRemoved: async (reconciler) => {
        await engine.remove(reconciler);
        await o.onReconcilerRemoved?.(reconciler);
      },
      onNotice: (n) => notices.publish(n),
    };
    if (o.namespace !== undefined) sourceOptions.namespace = o.namespace;
    else if (o.namespaces !== undefined) sourceOptions.namespaces = o.namespaces;
    if (o.onSourceRejected) sourceOptions.onRejected = o.onSourceRejected;
    sources = new ReconcilerLoader(sourceOptions);
    sources.start();
    await sources.synced();
    return new Operator({ client, log, notices, sandbox, compiler, engine, sources });
  }

  /** Stops reconciling (in-flight reconciles finish within `drainMs`), then the watches and the sandbox. */
  async stop(drainMs = 30_000): Promise<void> {
    await this.engine.stop(drainMs);
    this.sources.stop();
    await this.sandbox.close();
    this.compiler.close();
    this.client.close();
  }
}
