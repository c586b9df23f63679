// Dry run takes the engine's own pipeline: the same reasons as the cluster would show
// (not names of its own), the code's logs and events but not the engine's, and one
// load of the source for a reconcile and an admission dry run together.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { reconcilerSource } from "../../testenv/index.ts";
import { admissionDryRun } from "../admission/dryrun.ts";
import { ReconcilerCompiler } from "../reconcilers/compile.ts";
import { Sandbox } from "../sandbox/index.ts";
import { dryRun, openTrial } from "./dryrun.ts";

const kind = { apiVersion: "example.com/v1", kind: "Demo" };
const resource = { ...kind, metadata: { name: "d", namespace: "default" }, spec: {} };
const compiler = new ReconcilerCompiler();
let sandbox: Sandbox;
before(async () => {
  sandbox = await Sandbox.start({ poolSize: 1, timeoutMs: 300 });
});
after(() => sandbox.close());

test("a failure's reason is the engine's: ReconcileError for a throw, Timeout, InvalidChild", async () => {
  const cases: Array<[string, string]> = [
    ["    ctx.log.info('before'); throw new Error('bad spec');", "ReconcileError"],
    ["    for (;;) {}", "Timeout"],
    ["    return { children: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }] };", "InvalidChild"],
  ];
  for (const [body, reason] of cases) {
    const result = await dryRun({ compiler, sandbox, files: reconcilerSource(kind, body), resource });
    assert.equal(result.ok, false);
    assert.equal(result.error?.reason, reason, result.error?.message);
    // The engine's own Warning Event and "reconcile failed" log are the result's error, not the code's output.
    assert.deepEqual(result.events, []);
    assert.ok(result.logs.every((l) => !l.message.startsWith("reconcile failed")));
  }
});

test("a reconciler with finalize: a live object gets the finalizer and is reconciled; one being deleted is finalized", async () => {
  const files = reconcilerSource(kind, "    ctx.event({ reason: 'Seen', message: String((res.metadata.finalizers ?? []).length) }); return { status: { ok: true } };");
  files["reconciler.ts"] = files["reconciler.ts"]!.replace("  },\n} satisfies", "  },\n  finalize(res: Resource, ctx) { ctx.log.info('cleaning up'); return { done: true }; },\n} satisfies");
  const live = await dryRun({ compiler, sandbox, files, resource });
  assert.equal(live.ok, true, live.error?.message);
  assert.deepEqual(live.events.map((e) => e.message), ["1"], "reconciled with the finalizer added");
  assert.deepEqual(live.status, { ok: true });
  const deleting = await dryRun({ compiler, sandbox, files, resource: { ...resource, metadata: { ...resource.metadata, deletionTimestamp: "2026-12-03T00:00:00Z", finalizers: ["chakrator.dev/finalizer"] } } });
  assert.equal(deleting.ok, true);
  assert.deepEqual(deleting.logs.map((l) => l.message), ["cleaning up"]);
  assert.deepEqual(deleting.events, []);
});

test("one trial serves a reconcile and an admission dry run: one load, unloaded at close", async () => {
  const files = reconcilerSource(kind, "    return {};");
  files["reconciler.ts"] = files["reconciler.ts"]!.replace("  },\n} satisfies", "  },\n  validate() { return { allowed: false, message: 'no' }; },\n} satisfies");
  let loads = 0;
  const counting = { ...sandbox, load: (source: Parameters<Sandbox["load"]>[0]) => (loads++, sandbox.load(source)), call: sandbox.call.bind(sandbox), unload: sandbox.unload.bind(sandbox) } as unknown as Sandbox;
  const trial = await openTrial({ compiler, sandbox: counting, files });
  const reconciled = await dryRun({ compiler, sandbox: counting, files, resource, trial });
  const admitted = await admissionDryRun({ compiler, sandbox: counting, files, operation: "CREATE", object: resource, trial });
  assert.equal(reconciled.ok, true);
  assert.equal(admitted.allowed, false);
  assert.equal(loads, 1);
  await trial.close();
  await assert.rejects(sandbox.call(trial.id!, "reconcile", resource, { get: async () => undefined, list: async () => [], log() {}, event() {} }), /not loaded|unknown revision|no revision/i);
});
