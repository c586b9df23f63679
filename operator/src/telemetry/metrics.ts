/**
 * The operator's Prometheus metrics, on prom-client (the standard Node client): its
 * `Registry` renders /metrics (`metrics()`, async, in `contentType`: text format
 * 0.0.4), and `collectDefaultMetrics` adds the standard process_* and nodejs_* families.
 *
 * `createOperatorMetrics` declares the operator's own families (prefix `chakrator_`;
 * their names, types, labels and help are an interface dashboards and alerts rely on)
 * and is the work queues' metrics provider, as client-go's workqueue MetricsProvider:
 * `queue(reconciler)` gives one queue the hooks that feed its `chakrator_queue_*`
 * series directly, with no adapter between the queue and the series.
 *
 * Guarantees:
 * - Per-reconciler series carry the label `reconciler` ("namespace/name").
 *   `forgetReconciler` removes every chakrator_* series with that label (admission's
 *   too), so a deleted reconciler stops being exported.
 * - Programmer errors (a label not declared, a negative counter increment, a name
 *   declared twice) throw, as prom-client does; nothing here catches them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export { Registry };

/**
 * Structurally the engine's `QueueMetrics` (engine/queue.ts), so one reconciler's queue
 * can report into these metrics without telemetry importing the engine.
 */
export interface QueueMetricsHooks {
  depth(value: number): void;
  added(): void;
  queueWait(seconds: number): void;
  workDuration(seconds: number): void;
  retried(): void;
}

/** How one reconcile ended, as the engine reports it. */
export type ReconcileOutcome = "success" | "error" | "requeue";

/** The operator's metrics; see `createOperatorMetrics`. */
export interface OperatorMetrics {
  reconciles: Counter<"reconciler" | "outcome">;
  reconcileDuration: Histogram<"reconciler">;
  queueDepth: Gauge<"reconciler">;
  queueAdds: Counter<"reconciler">;
  queueWait: Histogram<"reconciler">;
  queueWorkDuration: Histogram<"reconciler">;
  queueRetries: Counter<"reconciler">;
  activeRevision: Gauge<"reconciler">;
  revisionsAccepted: Counter<"reconciler">;
  revisionsRejected: Counter<"reconciler">;
  sandboxTimeouts: Counter<"reconciler">;
  sandboxMemoryLimit: Counter<"reconciler">;
  sandboxHostRestarts: Counter;
  revisionsQuarantined: Counter<"reconciler">;
  watchRestarts: Counter<"kind">;
  leader: Gauge;
  /** Counts one reconcile in `chakrator_reconciles_total` and its duration in `chakrator_reconcile_duration_seconds`. */
  reconciled(reconciler: string, outcome: ReconcileOutcome, seconds: number): void;
  /** Reconciles (any outcome) and errors counted by `reconciled` since the reconciler was last forgotten. Synchronous, for the editor's list. */
  counts(reconciler: string): { reconciles: number; errors: number };
  /** The hooks of the work queue serving `reconciler`: they feed its `chakrator_queue_*` series (client-go's MetricsProvider). */
  queue(reconciler: string): QueueMetricsHooks;
  /** Removes every chakrator_* series labelled with `reconciler` (a deleted reconciler's), admission's included. Never rejects. */
  forgetReconciler(reconciler: string): Promise<void>;
}

/** Options of `createOperatorMetrics`. */
export interface OperatorMetricsOptions {
  /** Also collect prom-client's default process_* and nodejs_* metrics. Default true. */
  processMetrics?: boolean;
}

/**
 * Declares the operator's metrics on `registry` (names prefixed `chakrator_`) and, unless
 * turned off, prom-client's default metrics. Throws if any name is already declared there.
 */
export function createOperatorMetrics(registry: Registry, options: OperatorMetricsOptions = {}): OperatorMetrics {
  const registers = [registry];
  const byReconciler = ["reconciler"] as const;
  const reconciles = new Counter({ name: "chakrator_reconciles_total", help: "Reconciles run, by reconciler and outcome.", labelNames: ["reconciler", "outcome"] as const, registers });
  const reconcileDuration = new Histogram({ name: "chakrator_reconcile_duration_seconds", help: "Time of one reconcile, from dequeue to outcome.", labelNames: byReconciler, registers });
  const queueDepth = new Gauge({ name: "chakrator_queue_depth", help: "Keys waiting in a reconciler's work queue.", labelNames: byReconciler, registers });
  const queueAdds = new Counter({ name: "chakrator_queue_adds_total", help: "Keys added to a reconciler's work queue (duplicates of a waiting key not counted).", labelNames: byReconciler, registers });
  const queueWait = new Histogram({ name: "chakrator_queue_wait_seconds", help: "Time a key waited in the work queue before a worker took it.", labelNames: byReconciler, registers });
  const queueWorkDuration = new Histogram({ name: "chakrator_queue_work_duration_seconds", help: "Time a worker held a key, from get to done.", labelNames: byReconciler, registers });
  const queueRetries = new Counter({ name: "chakrator_queue_retries_total", help: "Rate-limited re-adds (retries with backoff).", labelNames: byReconciler, registers });
  const activeRevision = new Gauge({ name: "chakrator_active_revision", help: "Number of the revision a reconciler is running.", labelNames: byReconciler, registers });
  const revisionsAccepted = new Counter({ name: "chakrator_revisions_accepted_total", help: "Sources accepted as new revisions.", labelNames: byReconciler, registers });
  const revisionsRejected = new Counter({ name: "chakrator_revisions_rejected_total", help: "Sources rejected for compile or type errors.", labelNames: byReconciler, registers });
  const sandboxTimeouts = new Counter({ name: "chakrator_sandbox_timeouts_total", help: "Sandbox calls stopped at their wall-clock limit.", labelNames: byReconciler, registers });
  const sandboxMemoryLimit = new Counter({ name: "chakrator_sandbox_memory_limit_total", help: "Sandbox calls stopped at their isolate memory limit.", labelNames: byReconciler, registers });
  const sandboxHostRestarts = new Counter({ name: "chakrator_sandbox_host_restarts_total", help: "Sandbox host processes restarted after dying.", registers });
  const revisionsQuarantined = new Counter({ name: "chakrator_revisions_quarantined_total", help: "Revisions quarantined because their sandbox host kept crashing, hanging or overrunning its memory.", labelNames: byReconciler, registers });
  const watchRestarts = new Counter({ name: "chakrator_watch_restarts_total", help: "Informer watches restarted, by kind.", labelNames: ["kind"] as const, registers });
  const leader = new Gauge({ name: "chakrator_leader", help: "1 while this replica holds the leader lease, else 0.", registers });
  leader.set(0);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  // prom-client reads values back only asynchronously; the editor's list needs them at once.
  const tally = new Map<string, { reconciles: number; errors: number }>();
  return {
    reconciles, reconcileDuration, queueDepth, queueAdds, queueWait, queueWorkDuration, queueRetries, activeRevision,
    revisionsAccepted, revisionsRejected, sandboxTimeouts, sandboxMemoryLimit, sandboxHostRestarts, revisionsQuarantined, watchRestarts, leader,
    reconciled(reconciler, outcome, seconds) {
      reconciles.inc({ reconciler, outcome });
      reconcileDuration.observe({ reconciler }, seconds);
      const count = tally.get(reconciler) ?? { reconciles: 0, errors: 0 };
      count.reconciles += 1;
      if (outcome === "error") count.errors += 1;
      tally.set(reconciler, count);
    },
    counts: (reconciler) => ({ ...(tally.get(reconciler) ?? { reconciles: 0, errors: 0 }) }),
    queue(reconciler) {
      const labels = { reconciler };
      return {
        depth: (value) => queueDepth.set(labels, value),
        added: () => queueAdds.inc(labels),
        queueWait: (seconds) => queueWait.observe(labels, seconds),
        workDuration: (seconds) => queueWorkDuration.observe(labels, seconds),
        retried: () => queueRetries.inc(labels),
      };
    },
    async forgetReconciler(reconciler) {
      tally.delete(reconciler);
      await removeSeries(registry, reconciler);
    },
  };
}

/**
 * Removes each chakrator_* series whose `reconciler` label is `reconciler`. Series are
 * found by reading the family back (prom-client removes only by a full label set); a
 * histogram's bucket samples carry `le` besides, so its `_sum`/`_count` samples name it.
 * Only chakrator_* families are read: reading a default metric runs its collector,
 * which would restart the event-loop lag window between two scrapes.
 */
async function removeSeries(registry: Registry, reconciler: string): Promise<void> {
  for (const { name } of registry.getMetricsAsArray()) {
    const metric = name.startsWith("chakrator_") ? registry.getSingleMetric(name) : undefined;
    if (metric === undefined) continue;
    for (const { labels } of (await metric.get()).values) {
      if (labels["reconciler"] === reconciler && !("le" in labels)) metric.remove(labels);
    }
  }
}
