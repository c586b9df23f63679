// The reconciler runtime end to end on the real control plane: bad sources are
// rejected with an Event naming the line while the last good revision keeps running;
// history is pruned; hostile code and a killed sandbox host leave the operator
// healthy and other reconcilers unaffected; deleting the ConfigMap stops the reconciler.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installTestCrd, kubeConfig, putReconciler, reconcilerSource, testCluster, testNamespace } from "../../testenv/index.ts";
import { KubeClient, type KubeObject } from "../kube/client.ts";
import { Operator } from "../operator.ts";
import { LogBus } from "../telemetry/log.ts";

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }>; [k: string]: unknown } };

/** A reconciler for `kind` whose reconcile body is `body` (it gets `res` and `ctx`). */
const source = reconcilerSource;

describe("reconciler runtime", () => {
  let client: KubeClient;
  let ns: string;
  let op: Operator;
  let alpha: { apiVersion: string; kind: string };
  let beta: { apiVersion: string; kind: string };
  const bus = new LogBus({ stdout: false });

  /** Creates or replaces reconciler `name` with `data` and exactly `annotations`. */
  const put = (name: string, data: Record<string, string>, annotations: Record<string, string> = {}) => putReconciler(client, ns, name, data, annotations);
  const active = (name: string) => op.sources.state(`${ns}/${name}`)?.active?.number ?? 0;
  const ready = async (kind: { apiVersion: string; kind: string }, name: string) =>
    (await client.get<Obj>(kind.apiVersion, kind.kind, name, ns))?.status?.conditions?.find((c) => c.type === "Ready");
  const bump = (kind: { apiVersion: string; kind: string }, name: string, value: string) => client.patch(kind.apiVersion, kind.kind, name, ns, { spec: { value } });
  const statusValue = async (kind: { apiVersion: string; kind: string }, name: string) => (await client.get<Obj>(kind.apiVersion, kind.kind, name, ns))?.status?.seen;

  before(async () => {
    const info = await testCluster();
    alpha = await installTestCrd(info, "Alpha");
    beta = await installTestCrd(info, "Beta");
    ns = await testNamespace(info, "runtime");
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    op = await Operator.start({ kubeConfig: kubeConfig(info), namespace: ns, log: bus, keepRevisions: 3, sandbox: { timeoutMs: 1_000, memoryMb: 32, poolSize: 1 } });
    await put("alpha", source(alpha, `    return { status: { seen: (res.spec as { value?: string }).value ?? "", by: "v1" } };`));
    await put("beta", source(beta, `    return { status: { seen: (res.spec as { value?: string }).value ?? "" } };`));
    await eventually(() => active("alpha") === 1 && active("beta") === 1, 15_000, "both reconcilers active");
    await client.create({ ...alpha, metadata: { name: "a1", namespace: ns }, spec: { value: "start" } });
    await client.create({ ...beta, metadata: { name: "b1", namespace: ns }, spec: { value: "start" } });
    await eventually(async () => (await statusValue(alpha, "a1")) === "start" && (await statusValue(beta, "b1")) === "start", 15_000, "both reconciled");
  });
  after(async () => {
    await op?.stop(2_000);
    client?.close();
  });

  /** After each hostile or rejected source: alpha still runs its last good code, beta is unaffected. */
  async function stillHealthy(value: string): Promise<void> {
    await bump(beta, "b1", value);
    await eventually(async () => (await statusValue(beta, "b1")) === value, 15_000, "beta still reconciles");
  }

  for (const [what, files, line] of [
    ["broken TypeScript", { "reconciler.ts": "export default {\n  for: {\n" }, 3],
    ["a type error", source({ apiVersion: "test.chakrator.dev/v1", kind: "Alpha" }, `    const n: number = "not a number";\n    return { status: { n } };`), 7],
    ["a module that throws when loaded", { "reconciler.ts": `import type { Reconciler } from "chakrator";\nconst x: number = 1;\nif (x === 1) throw new Error("top-level failure");\nexport default { for: { apiVersion: "test.chakrator.dev/v1", kind: "Alpha" }, reconcile() { return {}; } } satisfies Reconciler;\n` }, 3],
    ["an import of an unknown module", { "reconciler.ts": `import fs from "node:fs";\nimport type { Reconciler } from "chakrator";\nexport default { for: { apiVersion: "test.chakrator.dev/v1", kind: "Alpha" }, reconcile() { return { status: { x: String(fs) } }; } } satisfies Reconciler;\n` }, 1],
  ] as const) {
    it(`rejects ${what} with an Event naming the line, and keeps the last good revision`, async () => {
      const before = active("alpha");
      await put("alpha", files as Record<string, string>);
      const rejection = await eventually(() => op.sources.state(`${ns}/alpha`)?.lastRejection, 15_000, "rejection");
      assert.ok(rejection.diagnostics.some((d) => d.line === line), `a diagnostic on line ${line}: ${JSON.stringify(rejection.diagnostics)}`);
      const event = await eventually(async () => {
        const events = await client.list("v1", "Event", { namespace: ns });
        return events.items.find((e) => e.reason === "RevisionRejected" && (e.involvedObject as { name: string }).name === "alpha" && String(e.message).includes(`reconciler.ts:${line}:`));
      }, 15_000, "RevisionRejected Event");
      assert.equal(event.type, "Warning");
      assert.match(String(event.message), /revision \d+ keeps running/);
      assert.equal(active("alpha"), before, "no new revision");
      const value = `after-${what.replaceAll(" ", "-")}`;
      await bump(alpha, "a1", value);
      await eventually(async () => (await statusValue(alpha, "a1")) === value, 15_000, "the old revision still reconciles");
      // Restore a good source for the next case (a new revision).
      await put("alpha", source(alpha, `    return { status: { seen: (res.spec as { value?: string }).value ?? "", by: "v1" } };`, `// ${what}`));
      await eventually(() => active("alpha") > before, 15_000, "good source accepted again");
    });
  }

  it("judges the settings annotations with the source: a bad limit is rejected, fixing only it is accepted", async () => {
    const files = source(alpha, `    return { status: { seen: (res.spec as { value?: string }).value ?? "", by: "limits" } };`);
    const hash = (await op.compiler.compile(files)).hash;
    await put("alpha", files);
    await eventually(() => op.sources.state(`${ns}/alpha`)?.active?.hash === hash, 15_000, "accepted");
    await put("alpha", files, { "chakrator.dev/timeout-ms": "soon" });
    const rejection = await eventually(() => op.sources.state(`${ns}/alpha`)?.lastRejection, 15_000, "the bad annotation rejected");
    assert.match(rejection.diagnostics[0]!.message, /chakrator\.dev\/timeout-ms: "soon" is not a positive integer/);
    await put("alpha", files, { "chakrator.dev/timeout-ms": "3000" });
    await eventually(() => op.sources.state(`${ns}/alpha`)?.lastRejection === undefined, 15_000, "the same source accepted once the annotation is fixed");
    assert.equal(op.sources.state(`${ns}/alpha`)!.active!.hash, hash, "same source, new limits");
    await put("alpha", files);
  });

  it("keeps only the last N revisions", async () => {
    const list = await client.list("v1", "ConfigMap", { namespace: ns, labelSelector: "chakrator.dev/revision-of=alpha" });
    const numbers = list.items.map((c) => Number(c.metadata.labels?.["chakrator.dev/revision"])).sort((a, b) => a - b);
    assert.equal(numbers.length, 3, `kept ${numbers.join(",")}`);
    assert.equal(numbers.at(-1), active("alpha"));
    const cm = list.items.find((c) => Number(c.metadata.labels?.["chakrator.dev/revision"]) === active("alpha"))!;
    assert.equal((cm as { immutable?: boolean }).immutable, true);
    assert.equal(cm.metadata.ownerReferences?.[0]?.name, "alpha");
  });

  const none: Record<string, string> = {};
  for (const [what, body, reason, annotations] of [
    ["while(true){}", "    while (true) {}", "Timeout", none],
    ["a promise that never settles", "    await new Promise(() => {});\n    return {};", "Timeout", none],
    // A generous clock for this one, so that the memory limit ends it, not a slow machine.
    ["allocating until the memory limit", "    const a: string[][] = [];\n    for (;;) a.push(new Array(100000).fill(\"xxxxxxxx\"));", "MemoryLimit", { "chakrator.dev/timeout-ms": "20000" }],
    ["deep recursion", "    const f = (n: number): number => f(n + 1) + 1;\n    return { status: { n: f(0) } };", "ReconcileError", none],
    ["reaching for the host through constructors", "    const p = (globalThis as any).constructor.constructor(\"return typeof process\")();\n    if (p !== \"undefined\") throw new Error(\"escaped: \" + p);\n    throw new Error(\"no host here\");", "ReconcileError", none],
    ["returning a cyclic object", "    const o: any = {}; o.self = o;\n    return { status: o };", "InvalidResult", none],
  ] as const) {
    it(`survives ${what}: Ready=False (${reason}), operator and other reconcilers healthy`, async () => {
      const before = active("alpha");
      await put("alpha", source(alpha, body), annotations);
      await eventually(() => active("alpha") > before, 15_000, "hostile revision accepted (it compiles)");
      const name = `hostile-${before}`;
      await client.create({ ...alpha, metadata: { name, namespace: ns }, spec: { value: "x" } });
      const cond = await eventually(async () => { const c = await ready(alpha, name); return c?.status === "False" ? c : undefined; }, 20_000, `Ready=False on ${name}`);
      assert.equal(cond.reason, reason, cond.message);
      await stillHealthy(`beta-after-${before}`);
      const mem = process.memoryUsage().rss;
      assert.ok(mem < 2 * 1024 ** 3, "the operator process did not balloon");
    });
  }

  it("survives kill -9 of the sandbox host mid-reconcile; the resource converges", async () => {
    const before = active("alpha");
    // Slow enough that the kill lands mid-call, fast enough to finish afterwards.
    await put("alpha", source(alpha, `    const end = ctx.now() + 300;\n    while (ctx.now() < end) {}\n    return { status: { seen: (res.spec as { value?: string }).value ?? "", by: "slow" } };`));
    await eventually(() => active("alpha") > before, 15_000, "slow revision");
    // Each reconciler has its own host: killing alpha's leaves beta's running.
    const pid = op.sandbox.hostPid(`${ns}/alpha`)!;
    const betaPid = op.sandbox.hostPid(`${ns}/beta`);
    assert.ok(pid !== undefined && betaPid !== undefined && pid !== betaPid, "one host per reconciler");
    await bump(alpha, "a1", "during-kill");
    await new Promise((r) => setTimeout(r, 150));
    process.kill(pid, "SIGKILL");
    await eventually(async () => (await statusValue(alpha, "a1")) === "during-kill", 20_000, "converged after the host restart");
    assert.ok(op.sandbox.hostPid(`${ns}/alpha`) !== undefined && op.sandbox.hostPid(`${ns}/alpha`) !== pid, "a new host for alpha");
    assert.equal(op.sandbox.hostPid(`${ns}/beta`), betaPid, "beta's host never restarted");
    assert.ok(bus.recent({ text: "sandbox host" }).some((r) => /exited/.test(r.message)), "the crash was logged");
    await stillHealthy("beta-after-kill");
  });

  it("stops a reconciler cleanly when its ConfigMap is deleted, and says so", async () => {
    await client.delete("v1", "ConfigMap", "beta", ns);
    await eventually(() => op.sources.state(`${ns}/beta`) === undefined, 15_000, "reconciler removed");
    assert.ok(bus.recent({ reconciler: `${ns}/beta`, text: "no longer reconciled" }).length > 0, "a log line says what stopped");
    await bump(beta, "b1", "after-delete");
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await statusValue(beta, "b1"), "beta-after-kill", "nothing reconciles beta any more");
  });
});
