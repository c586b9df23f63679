/**
 * A small Prometheus registry with no dependency: counters, gauges and histograms with
 * label names declared up front, rendered in the text exposition format 0.0.4.
 *
 * Guarantees:
 * - Names are checked when a metric is declared (metric and label name syntax, no
 *   reserved `__` labels, no `le` on histograms, no duplicate family): a mistake fails at
 *   start-up, not at scrape time.
 * - Each update must give exactly the declared label names; label values are any string
 *   (ill-formed UTF-16 is made well-formed) and are escaped on output, as is help text.
 * - Programmer errors (wrong label names, a negative counter increment, NaN) throw
 *   `MetricError`, as client_golang panics and prom-client throws; nothing else does.
 * - `render()` is synchronous and deterministic: families sorted by name, series by
 *   label values, histogram buckets cumulative with `+Inf`, `_sum` and `_count`.
 *
 * `createOperatorMetrics` declares the operator's own metrics (prefix `chakrator_`) plus
 * the standard process metrics, and adapts the work queue's hooks to them.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";

/** A metric was declared or updated in a way that is a programming error. */
export class MetricError extends Error {
  override name = "MetricError";
}

/** Label values keyed by the declared label names. */
export type Labels<L extends string> = Readonly<Record<L, string>>;

/** What every metric declaration takes. */
export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** Options of a histogram: upper bounds of its buckets, increasing (`+Inf` is implicit). */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  buckets?: readonly number[];
}

/** client_golang's DefBuckets, in seconds: 5 ms to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The Content-Type of `render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Formats a sample value or bucket bound as Prometheus expects (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escapes help text: backslash and newline. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

interface Series<S> {
  values: string[];
  state: S;
}

/** Shared label handling of the three metric kinds. */
abstract class Metric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: "counter" | "gauge" | "histogram";
  private readonly series = new Map<string, Series<S>>();

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME.test(options.name)) throw new MetricError(`invalid metric name ${JSON.stringify(options.name)}`);
    const labelNames = options.labelNames ?? [];
    const seen = new Set<string>();
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) throw new MetricError(`metric ${options.name}: invalid label name ${JSON.stringify(label)}`);
      if (seen.has(label)) throw new MetricError(`metric ${options.name}: duplicate label name ${label}`);
      seen.add(label);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...labelNames];
  }

  /** Removes every series whose labels match all of `partial` (e.g. all of one reconciler's). */
  remove(partial: Partial<Labels<L>>): void {
    const checks = Object.entries(partial).map(([name, value]) => [this.labelNames.indexOf(name as L), value] as const);
    if (checks.some(([index]) => index < 0)) throw new MetricError(`metric ${this.name}: remove() names a label it does not have`);
    for (const [key, series] of this.series) {
      if (checks.every(([index, value]) => series.values[index] === value)) this.series.delete(key);
    }
  }

  /** Drops every series. */
  reset(): void {
    this.series.clear();
  }

  protected abstract initial(): S;
  protected abstract sampleLines(name: string, labels: string, state: S, lines: string[]): void;

  protected state(labels: Labels<L> | undefined): S {
    const values = this.labelValues(labels);
    const key = values.join("\u0000");
    let series = this.series.get(key);
    if (series === undefined) {
      series = { values, state: this.initial() };
      this.series.set(key, series);
    }
    return series.state;
  }

  protected peek(labels: Labels<L> | undefined): S | undefined {
    return this.series.get(this.labelValues(labels).join("\u0000"))?.state;
  }

  private labelValues(labels: Labels<L> | undefined): string[] {
    const given = (labels ?? {}) as Record<string, unknown>;
    const names = Object.keys(given);
    if (names.length !== this.labelNames.length || names.some((name) => !this.labelNames.includes(name as L))) {
      throw new MetricError(`metric ${this.name}: labels {${names.join(",")}} do not match the declared {${this.labelNames.join(",")}}`);
    }
    return this.labelNames.map((name) => {
      const value = given[name];
      if (typeof value !== "string") throw new MetricError(`metric ${this.name}: label ${name} must be a string, got ${typeof value}`);
      return value.toWellFormed();
    });
  }

  /** This family's lines in the text format. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    if (this.labelNames.length === 0 && this.series.size === 0) this.state(undefined);
    const sorted = [...this.series.values()].sort((a, b) => compareValues(a.values, b.values));
    for (const series of sorted) {
      const pairs = this.labelNames.map((name, i) => `${name}="${escapeLabelValue(series.values[i] ?? "")}"`);
      this.sampleLines(this.name, pairs.join(","), series.state, lines);
    }
    return lines;
  }
}

function compareValues(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function sample(name: string, labels: string, value: number): string {
  return labels === "" ? `${name} ${formatValue(value)}` : `${name}{${labels}} ${formatValue(value)}`;
}

function checkNumber(metric: string, value: number): void {
  if (typeof value !== "number" || Number.isNaN(value)) throw new MetricError(`metric ${metric}: value must be a number, got ${String(value)}`);
}

/** A value that only goes up. `inc` throws `MetricError` on wrong labels or a negative/NaN amount. */
export class Counter<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = "counter";

  /** Adds `value` (default 1, must be >= 0). */
  inc(labels?: Labels<L>, value = 1): void {
    checkNumber(this.name, value);
    if (value < 0) throw new MetricError(`metric ${this.name}: counters only go up, got ${value}`);
    this.state(labels).value += value;
  }

  /** The current value (0 for a series never touched). */
  get(labels?: Labels<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }
  protected sampleLines(name: string, labels: string, state: { value: number }, lines: string[]): void {
    lines.push(sample(name, labels, state.value));
  }
}

/** A value that goes up and down. Throws `MetricError` on wrong labels or NaN. */
export class Gauge<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = "gauge";

  set(labels: Labels<L> | undefined, value: number): void {
    checkNumber(this.name, value);
    this.state(labels).value = value;
  }
  inc(labels?: Labels<L>, value = 1): void {
    checkNumber(this.name, value);
    this.state(labels).value += value;
  }
  dec(labels?: Labels<L>, value = 1): void {
    checkNumber(this.name, value);
    this.state(labels).value -= value;
  }
  /** The current value (0 for a series never touched). */
  get(labels?: Labels<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }
  protected sampleLines(name: string, labels: string, state: { value: number }, lines: string[]): void {
    lines.push(sample(name, labels, state.value));
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets. Throws `MetricError` on bad buckets, wrong labels or NaN. */
export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(options: HistogramOptions<L>) {
    super(options);
    if (this.labelNames.includes("le" as L)) throw new MetricError(`histogram ${options.name}: "le" is reserved for buckets`);
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
    if (buckets.at(-1) === Number.POSITIVE_INFINITY) buckets.pop();
    if (buckets.length === 0) throw new MetricError(`histogram ${options.name}: needs at least one finite bucket`);
    for (let i = 0; i < buckets.length; i++) {
      const bound = buckets[i]!;
      if (!Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]!)) {
        throw new MetricError(`histogram ${options.name}: buckets must be finite and strictly increasing`);
      }
    }
    this.buckets = buckets;
  }

  /** Counts `value` into its bucket, `_sum` and `_count`. */
  observe(labels: Labels<L> | undefined, value: number): void {
    checkNumber(this.name, value);
    const state = this.state(labels);
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) state.counts[index] = (state.counts[index] ?? 0) + 1;
    state.sum += value;
    state.count += 1;
  }

  /** The count and sum of one series (zeros for a series never touched). */
  get(labels?: Labels<L>): { count: number; sum: number } {
    const state = this.peek(labels);
    return { count: state?.count ?? 0, sum: state?.sum ?? 0 };
  }

  protected initial(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  protected sampleLines(name: string, labels: string, state: HistogramState, lines: string[]): void {
    const prefix = labels === "" ? "" : `${labels},`;
    let cumulative = 0;
    this.buckets.forEach((bound, i) => {
      cumulative += state.counts[i] ?? 0;
      lines.push(`${name}_bucket{${prefix}le="${formatValue(bound)}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{${prefix}le="+Inf"} ${state.count}`);
    lines.push(sample(`${name}_sum`, labels, state.sum));
    lines.push(sample(`${name}_count`, labels, state.count));
  }
}

/** Holds metric families and renders them. */
export class Registry {
  private readonly metrics = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();
  private readonly collectors: Array<() => void> = [];

  /** Declares a counter; throws `MetricError` on a bad or duplicate name. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.register(new Counter<L>(options));
  }
  /** Declares a gauge; throws `MetricError` on a bad or duplicate name. */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.register(new Gauge<L>(options));
  }
  /** Declares a histogram; throws `MetricError` on a bad or duplicate name or bad buckets. */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.register(new Histogram<L>(options));
  }

  /** Runs `collect` before each render, to refresh values read on demand (process metrics). A collector that throws is skipped. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  /** The text exposition format 0.0.4, families sorted by name, ending with a newline. */
  render(): string {
    for (const collect of this.collectors) {
      try {
        collect();
      } catch {
        // A failed read leaves the previous value; scraping must not fail for it.
      }
    }
    const names = [...this.metrics.keys()].sort();
    const lines: string[] = [];
    for (const name of names) lines.push(...this.metrics.get(name)!.render());
    return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
  }

  private register<M extends Counter<string> | Gauge<string> | Histogram<string>>(metric: M): M {
    const clash = [...this.metrics.keys()].find((name) => familyNames(name).some((n) => familyNames(metric.name).includes(n)));
    if (clash !== undefined) throw new MetricError(`metric ${metric.name} clashes with ${clash}`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

/** The sample names a family may emit, to reject declarations whose series would collide. */
function familyNames(name: string): string[] {
  return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`];
}

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
  /** Queue hooks feeding the `chakrator_queue_*` series of one reconciler. */
  queueMetrics(reconciler: string): QueueMetricsHooks;
  /** Drops every series of a removed reconciler, so it stops being exported. */
  forgetReconciler(reconciler: string): void;
  /** Stops the event-loop delay monitor. Idempotent. */
  close(): void;
}

/** Options of `createOperatorMetrics`. */
export interface OperatorMetricsOptions {
  /** Declare process_* and nodejs_eventloop_lag_seconds. Default true. */
  processMetrics?: boolean;
}

/**
 * Declares the operator's metrics on `registry` (names prefixed `chakrator_`) and, unless
 * turned off, the process metrics. Throws `MetricError` if any name is already declared there.
 */
export function createOperatorMetrics(registry: Registry, options: OperatorMetricsOptions = {}): OperatorMetrics {
  const byReconciler = ["reconciler"] as const;
  const reconciles = registry.counter({ name: "chakrator_reconciles_total", help: "Reconciles run, by reconciler and outcome.", labelNames: ["reconciler", "outcome"] });
  const reconcileDuration = registry.histogram({ name: "chakrator_reconcile_duration_seconds", help: "Time of one reconcile, from dequeue to outcome.", labelNames: byReconciler });
  const queueDepth = registry.gauge({ name: "chakrator_queue_depth", help: "Keys waiting in a reconciler's work queue.", labelNames: byReconciler });
  const queueAdds = registry.counter({ name: "chakrator_queue_adds_total", help: "Keys added to a reconciler's work queue (duplicates of a waiting key not counted).", labelNames: byReconciler });
  const queueWait = registry.histogram({ name: "chakrator_queue_wait_seconds", help: "Time a key waited in the work queue before a worker took it.", labelNames: byReconciler });
  const queueWorkDuration = registry.histogram({ name: "chakrator_queue_work_duration_seconds", help: "Time a worker held a key, from get to done.", labelNames: byReconciler });
  const queueRetries = registry.counter({ name: "chakrator_queue_retries_total", help: "Rate-limited re-adds (retries with backoff).", labelNames: byReconciler });
  const activeRevision = registry.gauge({ name: "chakrator_active_revision", help: "Number of the revision a reconciler is running.", labelNames: byReconciler });
  const revisionsAccepted = registry.counter({ name: "chakrator_revisions_accepted_total", help: "Sources accepted as new revisions.", labelNames: byReconciler });
  const revisionsRejected = registry.counter({ name: "chakrator_revisions_rejected_total", help: "Sources rejected for compile or type errors.", labelNames: byReconciler });
  const sandboxTimeouts = registry.counter({ name: "chakrator_sandbox_timeouts_total", help: "Sandbox calls stopped at their wall-clock limit.", labelNames: byReconciler });
  const sandboxMemoryLimit = registry.counter({ name: "chakrator_sandbox_memory_limit_total", help: "Sandbox calls stopped at their isolate memory limit.", labelNames: byReconciler });
  const sandboxHostRestarts = registry.counter({ name: "chakrator_sandbox_host_restarts_total", help: "Sandbox host processes restarted after dying." });
  const revisionsQuarantined = registry.counter({ name: "chakrator_revisions_quarantined_total", help: "Revisions quarantined because their sandbox host kept crashing, hanging or overrunning its memory.", labelNames: byReconciler });
  const watchRestarts = registry.counter({ name: "chakrator_watch_restarts_total", help: "Informer watches restarted, by kind.", labelNames: ["kind"] });
  const leader = registry.gauge({ name: "chakrator_leader", help: "1 while this replica holds the leader lease, else 0." });
  leader.set(undefined, 0);

  let close = () => {};
  if (options.processMetrics ?? true) close = declareProcessMetrics(registry);

  const perReconciler = [reconciles, reconcileDuration, queueDepth, queueAdds, queueWait, queueWorkDuration, queueRetries, activeRevision, revisionsAccepted, revisionsRejected, revisionsQuarantined, sandboxTimeouts, sandboxMemoryLimit];
  return {
    reconciles, reconcileDuration, queueDepth, queueAdds, queueWait, queueWorkDuration, queueRetries, activeRevision,
    revisionsAccepted, revisionsRejected, sandboxTimeouts, sandboxMemoryLimit, sandboxHostRestarts, revisionsQuarantined, watchRestarts, leader,
    queueMetrics(reconciler) {
      const labels = { reconciler };
      return {
        depth: (value) => queueDepth.set(labels, value),
        added: () => queueAdds.inc(labels),
        queueWait: (seconds) => queueWait.observe(labels, seconds),
        workDuration: (seconds) => queueWorkDuration.observe(labels, seconds),
        retried: () => queueRetries.inc(labels),
      };
    },
    forgetReconciler(reconciler) {
      for (const metric of perReconciler) metric.remove({ reconciler });
    },
    close: () => close(),
  };
}

/**
 * process_resident_memory_bytes, process_start_time_seconds, and
 * nodejs_eventloop_lag_seconds from `monitorEventLoopDelay` (a libuv timer that does not
 * keep the process alive), read at scrape time. Returns the monitor's stop function.
 */
function declareProcessMetrics(registry: Registry): () => void {
  const rss = registry.gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes." });
  const start = registry.gauge({ name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds." });
  const lag = registry.gauge({ name: "nodejs_eventloop_lag_seconds", help: "Longest event loop delay seen since the previous scrape, in seconds." });
  start.set(undefined, Math.round(performance.timeOrigin) / 1000);
  const monitor = monitorEventLoopDelay({ resolution: 20 });
  monitor.enable();
  let enabled = true;
  registry.onCollect(() => {
    rss.set(undefined, process.memoryUsage.rss());
    if (!enabled) return;
    // Before the first 20 ms sample the histogram is empty and max is 0.
    lag.set(undefined, monitor.count > 0 ? monitor.max / 1e9 : 0);
    monitor.reset();
  });
  return () => {
    if (enabled) monitor.disable();
    enabled = false;
  };
}
