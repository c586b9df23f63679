/**
 * The operator's life cycle around `Operator`: metrics, the editor server, leader
 * election and graceful shutdown. main.ts reads settings and calls `runOperator`;
 * tests call it too, with a kubeconfig of the test control plane.
 *
 * Leader election: every replica watches sources, compiles, serves the editor and
 * answers /readyz; only the leader's engine reconciles (it is built paused and
 * resumed on leadership). Losing the lease stops reconciling at once and exits the
 * process (as controller-runtime does): a replica that may no longer own the lease
 * must not write, and a restart is the simplest way back to a clean follower.
 *
 * SIGTERM/SIGINT: stop taking work, let in-flight reconciles finish within the grace
 * period, release the lease (a follower takes over within one retry period), close
 * the server and the sandbox, exit 0.
 */
import { podNamespace, type KubeCredentials } from "./kube/credentials.ts";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Admission, AdmissionGate, admissionMetrics, type AdmissionOptions } from "./admission/index.ts";
import { LeaderElector } from "./kube/leader.ts";
import { OperatorPeers } from "./kube/peers.ts";
import { RelayTokenSource } from "./kube/tokens.ts";
import { Operator } from "./operator.ts";
import type { FleetOptions } from "./sandbox/index.ts";
import { startServer, type ServerDeps } from "./server/index.ts";
import type { LogBus } from "./telemetry/log.ts";
import { createOperatorMetrics, Registry } from "./telemetry/metrics.ts";
import { LogRelay } from "./telemetry/relay.ts";

export interface RunOptions {
  kubeConfig: KubeCredentials;
  log: LogBus;
  namespace?: string;
  /** Allow-list of namespaces whose reconciler ConfigMaps count (without `namespace`). */
  namespaces?: string[];
  listen: { host: string; port: number };
  auth: "off" | "token";
  keepRevisions?: number;
  /** See `OperatorOptions.impersonate`; main.ts passes true unless CHAKRATOR_IMPERSONATE=false. */
  impersonate?: boolean;
  defaultServiceAccount?: string;
  workers?: number;
  sandbox?: FleetOptions;
  leaderElection?: boolean;
  /** This replica's editor address as other replicas reach it (log relay); e.g. http://<pod IP>:8080. */
  advertiseUrl?: string;
  /**
   * The operator's Service: a follower relays logs only from an address in its
   * EndpointSlices (kube/peers.ts); its namespace defaults to the Lease's. Without it,
   * only from loopback addresses.
   */
  relayService?: { namespace?: string; name: string };
  /** This replica's pod (downward API): its relay token is bound to it, so it dies with the pod. */
  pod?: { name: string; uid: string };
  /** Lease location; default the pod's namespace (or "default") and "chakrator-leader". */
  lease?: { namespace?: string; name?: string; leaseMs?: number; renewDeadlineMs?: number; retryMs?: number };
  shutdownGraceMs?: number;
  /** The editor server's connection caps, TokenReview budget and editor lane (server/README.md). */
  editor?: Pick<ServerDeps, "limits" | "authenticator" | "editorLane">;
  /** Serve the reconcilers' `validate`/`mutate` as admission webhooks (admission/). Default off. */
  admission?: Omit<AdmissionOptions, "onOutcome">;
  /** Install SIGTERM/SIGINT handlers that exit the process. Default true. */
  handleSignals?: boolean;
}

export interface RunningOperator {
  operator: Operator;
  /** The admission webhooks, when enabled and started. */
  admission: Admission | undefined;
  /** Records relayed from the leader (0 on the leader). */
  relayed(): number;
  url: string;
  identity: string;
  isLeader(): boolean;
  /** Graceful shutdown as on SIGTERM, without exiting the process. */
  shutdown(): Promise<void>;
}

/** Starts everything; see the module comment. */
export async function runOperator(o: RunOptions): Promise<RunningOperator> {
  const log = o.log;
  const registry = new Registry();
  const metrics = createOperatorMetrics(registry);
  const identity = `${hostname()}-${randomBytes(3).toString("hex")}`;
  const leaderElection = o.leaderElection ?? false;

  const admissionGate = new AdmissionGate();
  const operator = await Operator.start({
    kubeConfig: o.kubeConfig,
    log,
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    ...(o.namespaces !== undefined ? { namespaces: o.namespaces } : {}),
    keepRevisions: o.keepRevisions ?? 10,
    ...(o.impersonate !== undefined ? { impersonate: o.impersonate } : {}),
    ...(o.defaultServiceAccount !== undefined ? { defaultServiceAccount: o.defaultServiceAccount } : {}),
    workers: o.workers ?? 32,
    sandbox: {
      ...o.sandbox,
      onEvent: (e) => { if (e.type === "host-exited") metrics.sandboxHostRestarts.inc(); },
    },
    paused: leaderElection,
    hooks: {
      reconciled: (reconciler, outcome, seconds) => metrics.reconciled(reconciler, outcome, seconds),
      sandboxFailure: (reconciler, kind) => (kind === "timeout" ? metrics.sandboxTimeouts : metrics.sandboxMemoryLimit).inc({ reconciler }),
      watchRestarted: (kind) => metrics.watchRestarts.inc({ kind }),
      // Each work queue feeds its chakrator_queue_* series itself (metrics.queue).
      queueMetrics: metrics,
    },
    onRevisionAccepted: async (rev) => {
      await admissionGate.accepted(rev);
      metrics.revisionsAccepted.inc({ reconciler: rev.reconciler });
      metrics.activeRevision.set({ reconciler: rev.reconciler }, rev.number);
    },
    onSourceRejected: (reconciler) => metrics.revisionsRejected.inc({ reconciler }),
    onReconcilerRemoved: async (reconciler) => {
      await admissionGate.removed(reconciler);
      // After its controller and webhooks stopped, so no late update brings a series back.
      await metrics.forgetReconciler(reconciler);
    },
    onQuarantined: (reconciler) => metrics.revisionsQuarantined.inc({ reconciler }),
  });

  let elector: LeaderElector | undefined;
  let leading = !leaderElection;
  let shuttingDown = false;
  const server = await startServer({
    ...o.editor,
    operator,
    auth: o.auth,
    metrics: { render: () => registry.metrics(), contentType: registry.contentType },
    counts: (reconciler: string) => metrics.counts(reconciler),
    ready: () => {
      const reasons: string[] = [];
      if (shuttingDown) reasons.push("shutting down");
      if (leading && !operator.engine.isSynced) reasons.push("caches not synced yet");
      return { ready: reasons.length === 0, reasons };
    },
  }, o.listen);
  log.info(`editor at ${server.url} (auth ${o.auth === "off" ? "off: loopback only" : "by Kubernetes bearer token"})`);
  const admission = o.admission ? await startAdmission(operator, { ...o.admission, impersonate: o.impersonate ?? false }, admissionGate, registry) : undefined;

  // Followers check the Lease's address against the operator's own pods and send an
  // audience-bound token, never the operator's credentials (telemetry/relay.ts).
  const leaseNamespace = o.lease?.namespace ?? podNamespace() ?? "default";
  const peers = new OperatorPeers(operator.client, o.relayService ? { namespace: o.relayService.namespace ?? leaseNamespace, name: o.relayService.name } : undefined);
  const relayTokens = new RelayTokenSource(operator.client, o.pod ? { pod: o.pod } : {});
  const relay = new LogRelay({ bus: log, refusal: (url) => peers.refusal(url), token: () => relayTokens.token(), onProblem: (message) => log.warn(message) });
  if (leaderElection) {
    elector = new LeaderElector({
      client: operator.client,
      namespace: leaseNamespace,
      name: o.lease?.name ?? "chakrator-leader",
      identity,
      ...(o.lease?.leaseMs ? { leaseMs: o.lease.leaseMs } : {}),
      ...(o.lease?.renewDeadlineMs ? { renewDeadlineMs: o.lease.renewDeadlineMs } : {}),
      ...(o.lease?.retryMs ? { retryMs: o.lease.retryMs } : {}),
      annotations: { "chakrator.dev/editor-url": o.advertiseUrl ?? server.url },
      onStartedLeading: () => {
        // A Lease won while shutting down starts nothing (watches, relays, webhook writes).
        if (shuttingDown) return;
        leading = true;
        relay.stop();
        metrics.leader.set(1);
        log.info(`became the leader (${identity}); reconciling`);
        operator.engine.resume();
        admission?.startLeading();
      },
      onStoppedLeading: () => {
        leading = false;
        metrics.leader.set(0);
        if (shuttingDown) return;
        log.error(`lost the lease (${identity}); exiting so that only the new leader writes`);
        void operator.engine.stop(0).finally(() => process.exit(1));
      },
      onNewLeader: (id, annotations) => {
        if (id === identity || shuttingDown) return;
        const url = annotations["chakrator.dev/editor-url"];
        log.info(`leader is ${id}${url ? `; relaying its reconcile logs from ${url}` : ""}`);
        relay.follow(url);
      },
      onError: (err) => log.warn(`leader election: ${err instanceof Error ? err.message : String(err)}`),
    });
    log.info(`log relay: followers accept a leader address only among ${peers.describe()}`);
    void elector.run();
  } else {
    metrics.leader.set(1);
    admission?.startLeading();
  }

  const shutdown = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    const grace = o.shutdownGraceMs ?? 20_000;
    log.info(`shutting down: finishing in-flight reconciles (up to ${grace} ms)`);
    await operator.engine.stop(grace);
    relay.stop();
    if (elector) {
      await elector.release();
      elector.stop();
    }
    await server.close();
    await admission?.stop();
    await operator.stop(0);
    log.info("stopped");
  };
  if (o.handleSignals ?? true) {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      process.once(sig, () => void shutdown().then(() => process.exit(0), (err: unknown) => {
        log.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      }));
    }
  }
  return { operator, admission, relayed: () => relay.relayed, url: server.url, identity, isLeader: () => leading, shutdown };
}

/** Starts the webhooks; a failure (e.g. no access to the certificate Secret) leaves the operator running without them. */
async function startAdmission(operator: Operator, options: Omit<AdmissionOptions, "onOutcome">, gate: AdmissionGate, registry: Registry): Promise<Admission | undefined> {
  try {
    const admission = await Admission.forOperator(operator, {
      ...options,
      onOutcome: admissionMetrics(registry),
    });
    await gate.attach(admission);
    operator.notices.subscribe((n) => {
      if (n.type === "source-changed") admission.settingsChanged(n.reconciler);
    });
    operator.log.info(`admission webhooks served at ${admission.url}`);
    return admission;
  } catch (err: unknown) {
    operator.log.error(`admission webhooks are off: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}
