/**
 * Metrics on prom-client: what /metrics promises (escaping, histogram layout, default
 * buckets, the operator's families and their help), read back by a real Prometheus
 * text-format parser (parse-prometheus-text-format, a port of client_python's parser);
 * then the queue metrics and `forgetReconciler` in a running operator on the real API
 * server.
 */
import { after, before, describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Counter, Gauge, Histogram } from "prom-client";
import { eventually, installTestCrd, kubeConfig, putReconciler, reconcilerSource, testCluster, testNamespace } from "../../testenv/index.ts";
import { admissionMetrics } from "../admission/metrics.ts";
import { KubeClient } from "../kube/client.ts";
import { runOperator, type RunningOperator } from "../lifecycle.ts";
import { LogBus } from "./log.ts";
import { createOperatorMetrics, Registry } from "./metrics.ts";

/** The parser's output, as its README documents it (prom2json's shape). */
interface ParsedFamily {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; sum?: string; count?: string }>;
}
// The package ships no typings; it is CommonJS, so load it through require and type it here.
const parsePrometheusTextFormat = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => ParsedFamily[];

function parseText(text: string): Map<string, ParsedFamily> {
  assert.ok(text.endsWith("\n"));
  // Every line the parser sees must be a comment or a well-formed sample name (prom-client
  // separates families with an empty line, which the format ignores).
  for (const line of text.trimEnd().split("\n")) if (line !== "") assert.match(line, /^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+)$/);
  return new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
}

async function parse(registry: Registry): Promise<Map<string, ParsedFamily>> {
  return parseText(await registry.metrics());
}

test("counters and gauges render HELP, TYPE and escaped label values that a real parser reads back", async () => {
  const registry = new Registry();
  const requests = new Counter({ name: "test_requests_total", help: 'Requests with a "quote", a back\\slash\nand a newline.', labelNames: ["path", "code"], registers: [registry] });
  const temperature = new Gauge({ name: "test_temperature", help: "A gauge.", registers: [registry] });
  const odd = 'C:\\dir\\"file".txt\nsecond line';
  requests.inc({ path: odd, code: "200" });
  requests.inc({ path: odd, code: "200" }, 2.5);
  requests.inc({ code: "500", path: "/plain" });
  requests.inc({ code: "", path: "ünïcödé ✓" });
  temperature.set(-3.25);
  const families = await parse(registry);
  const family = families.get("test_requests_total");
  assert.equal(family?.type, "COUNTER");
  assert.equal(family?.help, 'Requests with a "quote", a back\\slash\nand a newline.');
  // prom-client keeps series in the order they were first used.
  assert.deepEqual(family?.metrics, [
    { value: "3.5", labels: { path: odd, code: "200" } },
    { value: "1", labels: { path: "/plain", code: "500" } },
    { value: "1", labels: { path: "ünïcödé ✓", code: "" } },
  ]);
  assert.deepEqual(families.get("test_temperature"), { name: "test_temperature", help: "A gauge.", type: "GAUGE", metrics: [{ value: "-3.25" }] });
  assert.equal((await requests.get()).values.find((v) => v.labels.path === odd)?.value, 3.5);
});

test("histograms render cumulative buckets, +Inf, _sum and _count", async () => {
  const registry = new Registry();
  const latency = new Histogram({ name: "test_latency_seconds", help: "Latency.", buckets: [0.1, 0.5, 1], registers: [registry] });
  for (const value of [0.05, 0.1, 0.3, 0.7, 2, 100]) latency.observe(value);
  const family = (await parse(registry)).get("test_latency_seconds");
  assert.equal(family?.type, "HISTOGRAM");
  assert.deepEqual(family?.metrics, [{ buckets: { "0.1": "2", "0.5": "3", "1": "4", "+Inf": "6" }, sum: "103.15", count: "6" }]);
});

test("labelled histograms: each series gets its own buckets, with the le label first", async () => {
  const registry = new Registry();
  const duration = new Histogram({ name: "test_duration_seconds", help: "Duration.", labelNames: ["reconciler"], buckets: [1, 2], registers: [registry] });
  duration.observe({ reconciler: 'ns/"q"' }, 1.5);
  const family = (await parse(registry)).get("test_duration_seconds");
  // This parser folds a labelled histogram's buckets into one map keyed by `le` (and
  // drops labelled _sum/_count), so one series is checked through it and the exact
  // lines below.
  assert.deepEqual(family?.metrics, [{ buckets: { "1": "0", "2": "1", "+Inf": "1" } }]);
  duration.observe({ reconciler: "b" }, 3);
  // prom-client writes `le` first and the series in the order they were first used.
  assert.deepEqual((await registry.metrics()).split("\n").filter((line) => line.startsWith("test_duration_seconds")), [
    'test_duration_seconds_bucket{le="1",reconciler="ns/\\"q\\""} 0',
    'test_duration_seconds_bucket{le="2",reconciler="ns/\\"q\\""} 1',
    'test_duration_seconds_bucket{le="+Inf",reconciler="ns/\\"q\\""} 1',
    'test_duration_seconds_sum{reconciler="ns/\\"q\\""} 1.5',
    'test_duration_seconds_count{reconciler="ns/\\"q\\""} 1',
    'test_duration_seconds_bucket{le="1",reconciler="b"} 0',
    'test_duration_seconds_bucket{le="2",reconciler="b"} 0',
    'test_duration_seconds_bucket{le="+Inf",reconciler="b"} 1',
    'test_duration_seconds_sum{reconciler="b"} 3',
    'test_duration_seconds_count{reconciler="b"} 1',
  ]);
  const b = (await duration.get()).values.filter((v) => v.labels.reconciler === "b");
  assert.deepEqual({ count: b.find((v) => v.metricName?.endsWith("_count"))?.value, sum: b.find((v) => v.metricName?.endsWith("_sum"))?.value }, { count: 1, sum: 3 });
});

test("default buckets are client_golang's 5 ms to 10 s", async () => {
  const registry = new Registry();
  new Histogram({ name: "test_default_seconds", help: "Defaults.", registers: [registry] }).observe(0.2);
  const buckets = (await parse(registry)).get("test_default_seconds")?.metrics[0]?.buckets;
  // Object keys put integer-like bounds first, so compare them in numeric order.
  const bounds = Object.keys(buckets ?? {}).sort((a, b) => Number(a.replace("+Inf", "Infinity")) - Number(b.replace("+Inf", "Infinity")));
  assert.deepEqual(bounds, ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]);
  assert.equal(buckets?.["0.1"], "0");
  assert.equal(buckets?.["0.25"], "1");
});

test("declaration and update mistakes throw", async () => {
  // prom-client's checks (plain Errors). It accepts what the hand-written registry also
  // refused: `__` label names, repeated label names or bucket bounds, a missing or
  // non-string label value, NaN, a name one of a histogram's samples would use.
  const registry = new Registry();
  const registers = [registry];
  assert.throws(() => new Counter({ name: "bad-name", help: "x", registers }), Error);
  assert.throws(() => new Histogram({ name: "h", help: "x", labelNames: ["le"], registers }), Error);
  const counter = new Counter({ name: "c_total", help: "x", labelNames: ["a"], registers });
  assert.throws(() => new Gauge({ name: "c_total", help: "dup", registers }), Error);
  assert.throws(() => counter.inc({ a: "1", b: "2" } as unknown as { a: string }), Error);
  assert.throws(() => counter.inc({ a: "1" }, -1), Error);
  counter.inc({ a: "1" });
  assert.equal((await counter.get()).values.find((v) => v.labels.a === "1")?.value, 1);
});

test("special values and unlabelled metrics that were never touched", async () => {
  const registry = new Registry();
  const registers = [registry];
  const gauge = new Gauge({ name: "g", help: "x", labelNames: ["k"], registers });
  gauge.set({ k: "inf" }, Number.POSITIVE_INFINITY);
  gauge.set({ k: "ninf" }, Number.NEGATIVE_INFINITY);
  new Counter({ name: "never_total", help: "untouched", registers });
  new Counter({ name: "never_labelled_total", help: "untouched", labelNames: ["x"], registers });
  const text = await registry.metrics();
  assert.match(text, /^g\{k="inf"\} \+Inf$/m);
  assert.match(text, /^g\{k="ninf"\} -Inf$/m);
  assert.match(text, /^never_total 0$/m, "an unlabelled metric is exported from the start");
  assert.doesNotMatch(text, /^never_labelled_total/m, "a labelled one has no series until used");
  const families = await parse(registry);
  assert.deepEqual(families.get("never_labelled_total")?.metrics, []);
  assert.equal(registry.contentType, "text/plain; version=0.0.4; charset=utf-8");
});

/** Help of every chakrator_ family, as exported before prom-client: dashboards read these. */
const chakratorHelp: Record<string, [ParsedFamily["type"], string]> = {
  chakrator_reconciles_total: ["COUNTER", "Reconciles run, by reconciler and outcome."],
  chakrator_reconcile_duration_seconds: ["HISTOGRAM", "Time of one reconcile, from dequeue to outcome."],
  chakrator_queue_depth: ["GAUGE", "Keys waiting in a reconciler's work queue."],
  chakrator_queue_adds_total: ["COUNTER", "Keys added to a reconciler's work queue (duplicates of a waiting key not counted)."],
  chakrator_queue_wait_seconds: ["HISTOGRAM", "Time a key waited in the work queue before a worker took it."],
  chakrator_queue_work_duration_seconds: ["HISTOGRAM", "Time a worker held a key, from get to done."],
  chakrator_queue_retries_total: ["COUNTER", "Rate-limited re-adds (retries with backoff)."],
  chakrator_active_revision: ["GAUGE", "Number of the revision a reconciler is running."],
  chakrator_revisions_accepted_total: ["COUNTER", "Sources accepted as new revisions."],
  chakrator_revisions_rejected_total: ["COUNTER", "Sources rejected for compile or type errors."],
  chakrator_revisions_quarantined_total: ["COUNTER", "Revisions quarantined because their sandbox host kept crashing, hanging or overrunning its memory."],
  chakrator_sandbox_timeouts_total: ["COUNTER", "Sandbox calls stopped at their wall-clock limit."],
  chakrator_sandbox_memory_limit_total: ["COUNTER", "Sandbox calls stopped at their isolate memory limit."],
  chakrator_sandbox_host_restarts_total: ["COUNTER", "Sandbox host processes restarted after dying."],
  chakrator_watch_restarts_total: ["COUNTER", "Informer watches restarted, by kind."],
  chakrator_leader: ["GAUGE", "1 while this replica holds the leader lease, else 0."],
  chakrator_admission_requests_total: ["COUNTER", "Admission requests answered, by reconciler, method and outcome."],
  chakrator_admission_duration_seconds: ["HISTOGRAM", "Time to answer one admission request, sandbox call included."],
};

test("operator metrics: every family declared, queue hooks feed them, forgetReconciler drops a reconciler's series", async () => {
  const registry = new Registry();
  const metrics = createOperatorMetrics(registry);
  const onAdmission = admissionMetrics(registry);
  const hooks = metrics.queue("ns/rec");
  hooks.added();
  hooks.depth(3);
  hooks.queueWait(0.02);
  hooks.workDuration(0.3);
  hooks.retried();
  metrics.reconciled("ns/rec", "success", 0.3);
  metrics.reconciled("ns/other", "error", 0.1);
  metrics.activeRevision.set({ reconciler: "ns/rec" }, 7);
  metrics.revisionsAccepted.inc({ reconciler: "ns/rec" });
  metrics.revisionsRejected.inc({ reconciler: "ns/rec" });
  metrics.sandboxTimeouts.inc({ reconciler: "ns/rec" });
  metrics.sandboxMemoryLimit.inc({ reconciler: "ns/rec" });
  metrics.sandboxHostRestarts.inc();
  metrics.watchRestarts.inc({ kind: "ConfigMap" });
  metrics.leader.set(1);
  onAdmission("ns/rec", "validate", "allowed", 0.01);
  onAdmission("ns/other", "mutate", "mutated", 0.01);

  const families = await parse(registry);
  const expected: Record<string, ParsedFamily["type"]> = {
    ...Object.fromEntries(Object.entries(chakratorHelp).map(([name, [type]]) => [name, type])),
    process_resident_memory_bytes: "GAUGE",
    process_start_time_seconds: "GAUGE",
    nodejs_eventloop_lag_seconds: "GAUGE",
  };
  // Besides ours, only prom-client's default process_* and nodejs_* families.
  for (const name of families.keys()) assert.ok(name in expected || /^(process|nodejs)_/.test(name), `unexpected family ${name}`);
  for (const [name, type] of Object.entries(expected)) {
    assert.equal(families.get(name)?.type, type, name);
    assert.ok((families.get(name)?.help ?? "") !== "", `${name} has help`);
  }
  for (const [name, [, help]] of Object.entries(chakratorHelp)) assert.equal(families.get(name)?.help, help, name);
  assert.deepEqual(families.get("chakrator_reconciles_total")?.metrics, [
    { value: "1", labels: { reconciler: "ns/rec", outcome: "success" } },
    { value: "1", labels: { reconciler: "ns/other", outcome: "error" } },
  ]);
  assert.deepEqual(families.get("chakrator_queue_depth")?.metrics, [{ value: "3", labels: { reconciler: "ns/rec" } }]);
  assert.deepEqual(families.get("chakrator_queue_adds_total")?.metrics, [{ value: "1", labels: { reconciler: "ns/rec" } }]);
  assert.deepEqual(families.get("chakrator_queue_retries_total")?.metrics, [{ value: "1", labels: { reconciler: "ns/rec" } }]);
  assert.equal(families.get("chakrator_queue_wait_seconds")?.metrics[0]?.buckets?.["0.025"], "1");
  assert.equal(families.get("chakrator_queue_wait_seconds")?.metrics[0]?.buckets?.["0.01"], "0");
  assert.equal(families.get("chakrator_queue_work_duration_seconds")?.metrics[0]?.buckets?.["0.5"], "1");
  assert.deepEqual(families.get("chakrator_leader")?.metrics, [{ value: "1" }]);
  assert.ok(Number(families.get("process_resident_memory_bytes")?.metrics[0]?.value) > 0);
  const start = Number(families.get("process_start_time_seconds")?.metrics[0]?.value);
  assert.ok(start > 1.5e9 && start <= Date.now() / 1000);
  assert.deepEqual(metrics.counts("ns/rec"), { reconciles: 1, errors: 0 });
  assert.deepEqual(metrics.counts("ns/other"), { reconciles: 1, errors: 1 });

  await metrics.forgetReconciler("ns/rec");
  const after = await parse(registry);
  assert.deepEqual(after.get("chakrator_reconciles_total")?.metrics, [{ value: "1", labels: { reconciler: "ns/other", outcome: "error" } }]);
  assert.deepEqual(after.get("chakrator_queue_depth")?.metrics, []);
  assert.deepEqual(after.get("chakrator_active_revision")?.metrics, []);
  assert.deepEqual(after.get("chakrator_admission_requests_total")?.metrics, [{ value: "1", labels: { reconciler: "ns/other", method: "mutate", outcome: "mutated" } }]);
  assert.deepEqual(seriesOf(await registry.metrics(), "ns/rec"), [], "no series of ns/rec is left, histograms' included");
  assert.notDeepEqual(seriesOf(await registry.metrics(), "ns/other"), []);
  assert.deepEqual(metrics.counts("ns/rec"), { reconciles: 0, errors: 0 });
});

/** Sample lines of /metrics text labelled `reconciler="<reconciler>"`. */
function seriesOf(text: string, reconciler: string): string[] {
  return text.split("\n").filter((line) => line.includes(`reconciler="${reconciler}"`));
}

/** The value of the first sample line `sample{...reconciler="<reconciler>"...}` that is not a bucket; undefined when there is none. */
function sampleValue(text: string, sample: string, reconciler: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${sample}{`) && l.includes(`reconciler="${reconciler}"`) && !l.includes('le="'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("queue metrics of a running operator on the real API server", () => {
  let client: KubeClient;
  let ns: string;
  let run: RunningOperator;
  let reconciler: string;
  const scrape = async () => {
    const response = await fetch(`${run.url}/metrics`);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    parseText(text); // well-formed for a real parser
    return text;
  };

  before(async () => {
    const info = await testCluster();
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    const kind = await installTestCrd(info, "Metered");
    ns = await testNamespace(info, "metrics");
    reconciler = `${ns}/metered`;
    // Objects named fail-* fail every reconcile, so the queue retries them with backoff.
    await putReconciler(client, ns, "metered", reconcilerSource(kind, `
    if (res.metadata.name.startsWith("fail")) throw new Error("fails on purpose");
    return { status: { seen: true } };`));
    run = await runOperator({
      kubeConfig: kubeConfig(info), log: new LogBus({ stdout: false }), namespace: ns, listen: { host: "127.0.0.1", port: 0 }, auth: "off",
      handleSignals: false, workers: 2, sandbox: { poolSize: 1 },
    });
    await eventually(() => run.operator.engine.controller(reconciler)?.isStarted, 30_000, "the reconciler's controller started");
    for (const name of ["ok-1", "ok-2", "fail-1"]) await client.create({ ...kind, metadata: { name, namespace: ns }, spec: {} });
  });

  after(async () => {
    await run?.shutdown();
    client?.close();
  });

  it("moves every exported chakrator_queue_* metric with real reconciles", async () => {
    const moved = {
      chakrator_queue_adds_total: (t: string) => (sampleValue(t, "chakrator_queue_adds_total", reconciler) ?? 0) >= 3,
      chakrator_queue_depth: (t: string) => sampleValue(t, "chakrator_queue_depth", reconciler) !== undefined,
      chakrator_queue_wait_seconds: (t: string) => (sampleValue(t, "chakrator_queue_wait_seconds_count", reconciler) ?? 0) >= 3,
      chakrator_queue_work_duration_seconds: (t: string) => (sampleValue(t, "chakrator_queue_work_duration_seconds_count", reconciler) ?? 0) >= 3,
      chakrator_queue_retries_total: (t: string) => (sampleValue(t, "chakrator_queue_retries_total", reconciler) ?? 0) >= 1,
    };
    const exported = [...parseText(await scrape()).keys()].filter((name) => name.startsWith("chakrator_queue_")).sort();
    assert.deepEqual(exported, Object.keys(moved).sort(), "the test covers every exported queue metric");
    const text = await eventually(async () => {
      const t = await scrape();
      return Object.values(moved).every((check) => check(t)) && t;
    }, 30_000, "every queue metric moved");
    // Work ends only after the reconcile it carried, so the queue saw at least those.
    assert.ok((sampleValue(text, "chakrator_queue_work_duration_seconds_count", reconciler) ?? 0) >= 3);
    assert.ok((sampleValue(text, "chakrator_reconciles_total", reconciler) ?? 0) >= 1);
  });

  it("removes every series of a deleted reconciler", async () => {
    assert.notDeepEqual(seriesOf(await scrape(), reconciler), []);
    await client.delete("v1", "ConfigMap", "metered", ns);
    await eventually(async () => seriesOf(await scrape(), reconciler).length === 0, 30_000, "the deleted reconciler's series gone");
    assert.equal(run.operator.engine.controller(reconciler), undefined);
  });
});
