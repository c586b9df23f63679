/**
 * Assembles the operator's stages (wiring only, no logic): kube client -> source
 * manager (ConfigMaps -> revisions) -> engine (controllers) -> sandbox. main.ts
 * reads settings and calls `Operator.start`; tests do the same against the real
 * control plane.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "./kube/client.ts";
import { EventRecorder } from "./kube/events.ts";
import { Engine, type EngineHooks } from "./engine/manager.ts";
import { Sandbox, type SandboxOptions } from "./sandbox/index.ts";
import { CompilerProcess } from "./source/compile-process.ts";
import { SourceManager, type AcceptedRevision } from "./source/manager.ts";
import { LogBus } from "./telemetry/log.ts";

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** Namespace whose reconciler ConfigMaps are watched; undefined for all. */
  namespace?: string;
  /** Revisions kept per reconciler. Default 10. */
  keepRevisions?: number;
  sandbox?: SandboxOptions;
  /** Concurrent reconciles per reconciler. Default 32: workers mostly wait on the API server; the sandbox pool bounds CPU. */
  workers?: number;
  /** Periodic resync. Default 10 min. */
  resyncMs?: number;
  log?: LogBus;
  hooks?: EngineHooks;
  /** Build controllers but do not reconcile until `engine.resume()` (leader election). */
  paused?: boolean;
  onSourceRejected?: (reconciler: string) => void;
  onRevisionAccepted?: (rev: AcceptedRevision) => void | Promise<void>;
  /** The reconciler ConfigMap was deleted (admission drops its webhooks). */
  onReconcilerRemoved?: (reconciler: string) => void | Promise<void>;
}

/** A running operator. */
export class Operator {
  readonly client: KubeClient;
  readonly log: LogBus;
  readonly sandbox: Sandbox;
  readonly compiler: CompilerProcess;
  readonly engine: Engine;
  readonly sources: SourceManager;

  private constructor(parts: { client: KubeClient; log: LogBus; sandbox: Sandbox; compiler: CompilerProcess; engine: Engine; sources: SourceManager }) {
    this.client = parts.client;
    this.log = parts.log;
    this.sandbox = parts.sandbox;
    this.compiler = parts.compiler;
    this.engine = parts.engine;
    this.sources = parts.sources;
  }

  /** Starts every stage; resolves once the reconciler sources in the cluster were processed. */
  static async start(o: OperatorOptions): Promise<Operator> {
    const log = o.log ?? new LogBus();
    const client = KubeClient.fromKubeConfig(o.kubeConfig, { userAgent: "chakrator-operator" });
    const events = new EventRecorder(client, { onError: (err) => log.log("warn", `could not record an Event: ${err instanceof Error ? err.message : String(err)}`) });
    const sandbox = await Sandbox.start({
      ...o.sandbox,
      onEvent: (e) => {
        o.sandbox?.onEvent?.(e);
        if (e.type === "host-exited") log.log("error", `sandbox host (pid ${e.pid}) exited (${e.signal ?? `code ${e.code}`}); ${e.failedCalls} in-flight calls failed and will be retried; starting a new host`);
        else if (e.type === "host-started" && e.generation > 1) log.log("info", `sandbox host restarted (pid ${e.pid})`);
        else if (e.type === "host-unresponsive") log.log("error", `sandbox host (pid ${e.pid}) stopped answering for ${e.waitedMs} ms; killing it`);
        else if (e.type === "isolate-disposed") log.log("warn", `isolate of ${e.revisionId} disposed (${e.reason}); it is rebuilt on the next call`);
        else if (e.type === "revision-reload-failed") log.log("error", `could not reload ${e.revisionId} into the new sandbox host: ${e.error.message}`);
      },
    });
    // Type-checking runs in its own process: a slow or crashing check never stalls the operator.
    const compiler = new CompilerProcess();
    const engine = new Engine({
      client,
      sandbox,
      events,
      log,
      workers: o.workers ?? 32,
      resyncMs: o.resyncMs ?? 10 * 60_000,
      ...(o.hooks ? { hooks: o.hooks } : {}),
    }, { paused: o.paused ?? false });
    const sourceOptions: ConstructorParameters<typeof SourceManager>[0] = {
      client,
      compiler,
      sandbox,
      events,
      keep: o.keepRevisions ?? 10,
      log: (level, message, context) => log.log(level, message, context),
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
        });
        await o.onRevisionAccepted?.(rev);
      },
      onRemoved: async (reconciler) => {
        await engine.remove(reconciler);
        await o.onReconcilerRemoved?.(reconciler);
      },
      onNotice: (n) => log.publishNotice(n),
    };
    if (o.namespace !== undefined) sourceOptions.namespace = o.namespace;
    if (o.onSourceRejected) sourceOptions.onRejected = o.onSourceRejected;
    const sources = new SourceManager(sourceOptions);
    sources.start();
    await sources.synced();
    return new Operator({ client, log, sandbox, compiler, engine, sources });
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
