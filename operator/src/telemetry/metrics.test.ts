/**
 * Metrics registry: declarations, updates, and `render()` read back by a real Prometheus
 * text-format parser (parse-prometheus-text-format, a port of client_python's parser).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createOperatorMetrics, MetricError, PROMETHEUS_CONTENT_TYPE, Registry } from "./metrics.ts";

/** The parser's output, as its README documents it (prom2json's shape). */
interface ParsedFamily {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; sum?: string; count?: string }>;
}
// The package ships no typings; it is CommonJS, so load it through require and type it here.
const parsePrometheusTextFormat = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => ParsedFamily[];

function parse(registry: Registry): Map<string, ParsedFamily> {
  const text = registry.render();
  assert.ok(text.endsWith("\n"));
  // Every line the parser sees must be a comment or a well-formed sample name.
  for (const line of text.trimEnd().split("\n")) assert.match(line, /^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+)$/);
  return new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
}

test("counters and gauges render HELP, TYPE and escaped label values that a real parser reads back", () => {
  const registry = new Registry();
  const requests = registry.counter({ name: "test_requests_total", help: 'Requests with a "quote", a back\\slash\nand a newline.', labelNames: ["path", "code"] });
  const temperature = registry.gauge({ name: "test_temperature", help: "A gauge." });
  const odd = 'C:\\dir\\"file".txt\nsecond line';
  requests.inc({ path: odd, code: "200" });
  requests.inc({ path: odd, code: "200" }, 2.5);
  requests.inc({ code: "500", path: "/plain" });
  requests.inc({ code: "", path: "ünïcödé ✓" });
  temperature.set(undefined, -3.25);
  const families = parse(registry);
  const family = families.get("test_requests_total");
  assert.equal(family?.type, "COUNTER");
  assert.equal(family?.help, 'Requests with a "quote", a back\\slash\nand a newline.');
  assert.deepEqual(family?.metrics, [
    { value: "1", labels: { path: "/plain", code: "500" } },
    { value: "3.5", labels: { path: odd, code: "200" } },
    { value: "1", labels: { path: "ünïcödé ✓", code: "" } },
  ]);
  assert.deepEqual(families.get("test_temperature"), { name: "test_temperature", help: "A gauge.", type: "GAUGE", metrics: [{ value: "-3.25" }] });
  assert.equal(requests.get({ path: odd, code: "200" }), 3.5);
});

test("histograms render cumulative buckets, +Inf, _sum and _count", () => {
  const registry = new Registry();
  const latency = registry.histogram({ name: "test_latency_seconds", help: "Latency.", buckets: [0.1, 0.5, 1] });
  for (const value of [0.05, 0.1, 0.3, 0.7, 2, 100]) latency.observe(undefined, value);
  const family = parse(registry).get("test_latency_seconds");
  assert.equal(family?.type, "HISTOGRAM");
  assert.deepEqual(family?.metrics, [{ buckets: { "0.1": "2", "0.5": "3", "1": "4", "+Inf": "6" }, sum: "103.15", count: "6" }]);
});

test("labelled histograms: each series gets its own buckets, with the le label last", () => {
  const registry = new Registry();
  const duration = registry.histogram({ name: "test_duration_seconds", help: "Duration.", labelNames: ["reconciler"], buckets: [1, 2] });
  duration.observe({ reconciler: 'ns/"q"' }, 1.5);
  const family = parse(registry).get("test_duration_seconds");
  // This parser folds a labelled histogram's buckets into one map keyed by `le` (and
  // drops labelled _sum/_count), so one series is checked through it and the exact
  // lines below.
  assert.deepEqual(family?.metrics, [{ buckets: { "1": "0", "2": "1", "+Inf": "1" } }]);
  duration.observe({ reconciler: "b" }, 3);
  assert.deepEqual(registry.render().split("\n").filter((line) => line.startsWith("test_duration_seconds")), [
    'test_duration_seconds_bucket{reconciler="b",le="1"} 0',
    'test_duration_seconds_bucket{reconciler="b",le="2"} 0',
    'test_duration_seconds_bucket{reconciler="b",le="+Inf"} 1',
    'test_duration_seconds_sum{reconciler="b"} 3',
    'test_duration_seconds_count{reconciler="b"} 1',
    'test_duration_seconds_bucket{reconciler="ns/\\"q\\"",le="1"} 0',
    'test_duration_seconds_bucket{reconciler="ns/\\"q\\"",le="2"} 1',
    'test_duration_seconds_bucket{reconciler="ns/\\"q\\"",le="+Inf"} 1',
    'test_duration_seconds_sum{reconciler="ns/\\"q\\""} 1.5',
    'test_duration_seconds_count{reconciler="ns/\\"q\\""} 1',
  ]);
  assert.deepEqual(duration.get({ reconciler: "b" }), { count: 1, sum: 3 });
});

test("default buckets are client_golang's 5 ms to 10 s", () => {
  const registry = new Registry();
  registry.histogram({ name: "test_default_seconds", help: "Defaults." }).observe(undefined, 0.2);
  const buckets = parse(registry).get("test_default_seconds")?.metrics[0]?.buckets;
  // Object keys put integer-like bounds first, so compare them in numeric order.
  const bounds = Object.keys(buckets ?? {}).sort((a, b) => Number(a.replace("+Inf", "Infinity")) - Number(b.replace("+Inf", "Infinity")));
  assert.deepEqual(bounds, ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]);
  assert.equal(buckets?.["0.1"], "0");
  assert.equal(buckets?.["0.25"], "1");
});

test("declaration and update mistakes throw MetricError", () => {
  const registry = new Registry();
  assert.throws(() => registry.counter({ name: "bad-name", help: "x" }), MetricError);
  assert.throws(() => registry.counter({ name: "ok_total", help: "x", labelNames: ["__reserved"] }), MetricError);
  assert.throws(() => registry.counter({ name: "ok_total", help: "x", labelNames: ["a", "a"] }), MetricError);
  assert.throws(() => registry.histogram({ name: "h", help: "x", labelNames: ["le"] }), MetricError);
  assert.throws(() => registry.histogram({ name: "h", help: "x", buckets: [1, 1] }), MetricError);
  assert.throws(() => registry.histogram({ name: "h", help: "x", buckets: [Number.NaN] }), MetricError);
  const counter = registry.counter({ name: "c_total", help: "x", labelNames: ["a"] });
  assert.throws(() => registry.gauge({ name: "c_total", help: "dup" }), MetricError);
  registry.histogram({ name: "lat", help: "x" });
  assert.throws(() => registry.counter({ name: "lat_count", help: "would collide with the histogram's samples" }), MetricError);
  assert.throws(() => counter.inc(), MetricError);
  assert.throws(() => counter.inc({ a: "1", b: "2" } as unknown as { a: string }), MetricError);
  assert.throws(() => counter.inc({ a: 1 } as unknown as { a: string }), MetricError);
  assert.throws(() => counter.inc({ a: "1" }, -1), MetricError);
  assert.throws(() => counter.inc({ a: "1" }, Number.NaN), MetricError);
  counter.inc({ a: "1" });
  assert.equal(counter.get({ a: "1" }), 1);
});

test("special values and unlabelled metrics that were never touched", () => {
  const registry = new Registry();
  const gauge = registry.gauge({ name: "g", help: "x", labelNames: ["k"] });
  gauge.set({ k: "inf" }, Number.POSITIVE_INFINITY);
  gauge.set({ k: "ninf" }, Number.NEGATIVE_INFINITY);
  registry.counter({ name: "never_total", help: "untouched" });
  registry.counter({ name: "never_labelled_total", help: "untouched", labelNames: ["x"] });
  const text = registry.render();
  assert.match(text, /^g\{k="inf"\} \+Inf$/m);
  assert.match(text, /^g\{k="ninf"\} -Inf$/m);
  assert.match(text, /^never_total 0$/m, "an unlabelled metric is exported from the start");
  assert.doesNotMatch(text, /^never_labelled_total/m, "a labelled one has no series until used");
  const families = parse(registry);
  assert.deepEqual(families.get("never_labelled_total")?.metrics, []);
  assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

test("operator metrics: every family declared, queue hooks feed them, forgetReconciler drops a reconciler's series", () => {
  const registry = new Registry();
  const metrics = createOperatorMetrics(registry);
  try {
    const hooks = metrics.queueMetrics("ns/rec");
    hooks.added();
    hooks.depth(3);
    hooks.queueWait(0.02);
    hooks.workDuration(0.3);
    hooks.retried();
    metrics.reconciles.inc({ reconciler: "ns/rec", outcome: "success" });
    metrics.reconciles.inc({ reconciler: "ns/other", outcome: "error" });
    metrics.reconcileDuration.observe({ reconciler: "ns/rec" }, 0.3);
    metrics.activeRevision.set({ reconciler: "ns/rec" }, 7);
    metrics.revisionsAccepted.inc({ reconciler: "ns/rec" });
    metrics.revisionsRejected.inc({ reconciler: "ns/rec" });
    metrics.sandboxTimeouts.inc({ reconciler: "ns/rec" });
    metrics.sandboxMemoryLimit.inc({ reconciler: "ns/rec" });
    metrics.sandboxHostRestarts.inc();
    metrics.watchRestarts.inc({ kind: "ConfigMap" });
    metrics.leader.set(undefined, 1);

    const families = parse(registry);
    const expected: Record<string, ParsedFamily["type"]> = {
      chakrator_reconciles_total: "COUNTER",
      chakrator_reconcile_duration_seconds: "HISTOGRAM",
      chakrator_queue_depth: "GAUGE",
      chakrator_queue_adds_total: "COUNTER",
      chakrator_queue_wait_seconds: "HISTOGRAM",
      chakrator_queue_work_duration_seconds: "HISTOGRAM",
      chakrator_queue_retries_total: "COUNTER",
      chakrator_active_revision: "GAUGE",
      chakrator_revisions_accepted_total: "COUNTER",
      chakrator_revisions_rejected_total: "COUNTER",
      chakrator_revisions_quarantined_total: "COUNTER",
      chakrator_sandbox_timeouts_total: "COUNTER",
      chakrator_sandbox_memory_limit_total: "COUNTER",
      chakrator_sandbox_host_restarts_total: "COUNTER",
      chakrator_watch_restarts_total: "COUNTER",
      chakrator_leader: "GAUGE",
      process_resident_memory_bytes: "GAUGE",
      process_start_time_seconds: "GAUGE",
      nodejs_eventloop_lag_seconds: "GAUGE",
    };
    assert.deepEqual([...families.keys()].sort(), Object.keys(expected).sort());
    for (const [name, type] of Object.entries(expected)) {
      assert.equal(families.get(name)?.type, type, name);
      assert.ok((families.get(name)?.help ?? "") !== "", `${name} has help`);
    }
    assert.deepEqual(families.get("chakrator_reconciles_total")?.metrics, [
      { value: "1", labels: { reconciler: "ns/other", outcome: "error" } },
      { value: "1", labels: { reconciler: "ns/rec", outcome: "success" } },
    ]);
    assert.deepEqual(families.get("chakrator_queue_depth")?.metrics, [{ value: "3", labels: { reconciler: "ns/rec" } }]);
    assert.equal(families.get("chakrator_queue_wait_seconds")?.metrics[0]?.buckets?.["0.025"], "1");
    assert.equal(families.get("chakrator_queue_wait_seconds")?.metrics[0]?.buckets?.["0.01"], "0");
    assert.deepEqual(families.get("chakrator_leader")?.metrics, [{ value: "1" }]);
    assert.ok(Number(families.get("process_resident_memory_bytes")?.metrics[0]?.value) > 0);
    const start = Number(families.get("process_start_time_seconds")?.metrics[0]?.value);
    assert.ok(start > 1.5e9 && start <= Date.now() / 1000);

    metrics.forgetReconciler("ns/rec");
    const after = parse(registry);
    assert.deepEqual(after.get("chakrator_reconciles_total")?.metrics, [{ value: "1", labels: { reconciler: "ns/other", outcome: "error" } }]);
    assert.deepEqual(after.get("chakrator_queue_depth")?.metrics, []);
    assert.deepEqual(after.get("chakrator_active_revision")?.metrics, []);
  } finally {
    metrics.close();
    metrics.close();
  }
});
