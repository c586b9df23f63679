// The reconcile pipeline on a real sandbox with a recording writer: the steps it takes
// and the outcome it returns, for the finalizer flow and for failures. (The live writer
// is covered on the real API server by engine.test.ts and adoption.test.ts.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { KubeObject } from "../kube/client.ts";
import { Sandbox, type RevisionSource } from "../sandbox/index.ts";
import { LogBus } from "../telemetry/log.ts";
import { finalizerName } from "./finalizer.ts";
import { runPipeline, type PipelineWriter } from "./pipeline.ts";

let sandbox: Sandbox;
before(async () => {
  sandbox = await Sandbox.start({ poolSize: 1 });
});
after(() => sandbox.close());

const owns = [{ apiVersion: "v1", kind: "ConfigMap" }];

function revision(id: string, body: string): RevisionSource {
  return { id, entry: "reconciler.ts", modules: { "reconciler.ts": `export default { for: { apiVersion: "example.com/v1", kind: "Demo" }, owns: [{ apiVersion: "v1", kind: "ConfigMap" }], ${body} };` } };
}

function recorder(): { writer: PipelineWriter; steps: string[] } {
  const steps: string[] = [];
  return {
    steps,
    writer: {
      addFinalizer: async (obj) => {
        steps.push("add-finalizer");
        return { ...obj, metadata: { ...obj.metadata, finalizers: [finalizerName] } };
      },
      removeFinalizer: async () => void steps.push("remove-finalizer"),
      applyChildren: async (_parent, desired) => {
        steps.push(`apply ${desired.map((d) => d.metadata.name).join(",")}`);
        return desired.length;
      },
      pruneChildren: async () => {
        steps.push("prune");
        return 0;
      },
      writeStatus: async (_obj, user, ready) => void steps.push(`status ${ready.status} ${ready.reason} ${JSON.stringify(user ?? null)}`),
      event: (_obj, spec, from) => void steps.push(`event ${from} ${spec.type} ${spec.reason}`),
    },
  };
}

const demo = (metadata: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  apiVersion: "example.com/v1", kind: "Demo", metadata: { name: "d", namespace: "default", uid: "u-1", generation: 1, ...metadata },
});

const run = async (id: string, hasFinalize: boolean, obj: KubeObject) => {
  const rec = recorder();
  const bus = new LogBus({ stdout: false });
  const outcome = await runPipeline({
    obj, rev: { reconciler: "default/demo", number: 3, sandboxId: id, owns, hasFinalize }, sandbox, writer: rec.writer,
    reads: { get: async () => undefined, list: async () => [] },
    log: bus.child({ reconciler: "default/demo", revision: 3 }),
  });
  // Every record carries the context the pipeline was handed, plus the resource it added.
  for (const r of bus.recent()) assert.deepEqual([r.reconciler, r.revision, r.resource], ["default/demo", 3, "Demo default/d"]);
  const logs = bus.recent().map((r) => `${r.level} ${r.source ?? "operator"} ${r.message}`);
  return { outcome, steps: rec.steps, logs };
};

test("a first reconcile with finalize adds the finalizer, then applies, prunes and writes Ready=True", async () => {
  await sandbox.load(revision("with-finalize", `
    reconcile(res, ctx) { ctx.log.info("hello"); ctx.event({ reason: "Hi", message: "m" }); return { children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-cm" } }], status: { n: 1 }, requeueAfterSeconds: 7 }; },
    finalize() { return { done: true }; },`));
  const { outcome, steps, logs } = await run("with-finalize", true, demo());
  assert.deepEqual(steps, ["add-finalizer", "event user Normal Hi", "apply d-cm", "prune", 'status True Reconciled {"n":1}']);
  assert.deepEqual(outcome, { type: "done", requeueAfterMs: 7000 });
  assert.deepEqual(logs, ["info user hello", "info operator reconciled: 1 applied, 0 pruned"]);
});

test("deletion calls finalize; not done requeues (default 5 s) and keeps the finalizer; done removes it", async () => {
  await sandbox.load(revision("finalizing", `
    reconcile() { throw new Error("never reconciled while deleting"); },
    finalize(res) { return res.spec?.release ? { done: true } : { done: false }; },`));
  const deleting = { deletionTimestamp: "2026-12-03T00:00:00Z", finalizers: [finalizerName] };
  const blocked = await run("finalizing", true, demo(deleting));
  assert.deepEqual(blocked.steps, []);
  assert.deepEqual(blocked.outcome, { type: "done", requeueAfterMs: 5000 });
  const released = await run("finalizing", true, { ...demo(deleting), spec: { release: true } } as KubeObject);
  assert.deepEqual(released.steps, ["remove-finalizer"]);
  assert.deepEqual(released.outcome, { type: "done" });
  // A revision without finalize releases an object left with our finalizer.
  const dropped = await run("finalizing", false, demo(deleting));
  assert.deepEqual(dropped.steps, ["remove-finalizer"]);
});

test("a thrown error is a Warning Event and Ready=False keeping the user's status, with the engine's reason; FinalizeError for finalize", async () => {
  await sandbox.load(revision("throws", `
    reconcile() { throw new Error("bad spec"); },
    finalize() { throw new Error("cannot clean up"); },`));
  const failed = await run("throws", true, demo({ finalizers: [finalizerName] }));
  assert.equal(failed.outcome.type, "error");
  assert.ok(failed.outcome.type === "error" && failed.outcome.reason === "ReconcileError" && /bad spec/.test(failed.outcome.message));
  assert.deepEqual(failed.steps, ["event operator Warning ReconcileError", "status False ReconcileError null"]);
  const finalize = await run("throws", true, demo({ finalizers: [finalizerName], deletionTimestamp: "2026-12-03T00:00:00Z" }));
  assert.ok(finalize.outcome.type === "error" && finalize.outcome.reason === "FinalizeError");
  assert.deepEqual(finalize.steps, ["event operator Warning FinalizeError", "status False FinalizeError null"]);
});

test("an undeclared child kind fails before anything is applied, as InvalidChild", async () => {
  await sandbox.load(revision("undeclared", `reconcile() { return { children: [{ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } }] }; },`));
  const { outcome, steps } = await run("undeclared", false, demo());
  assert.ok(outcome.type === "error" && outcome.reason === "InvalidChild", JSON.stringify(outcome));
  assert.deepEqual(steps, ["event operator Warning InvalidChild", "status False InvalidChild null"]);
});
