// The sandbox's admission methods: `validate` and `mutate` read from the default export,
// called with (object, ctx, request), their answers shape-checked.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { InvalidResultError, Sandbox, SandboxUsageError, UserCodeError } from "../sandbox/index.ts";
import type { HostBridge } from "../sandbox/index.ts";
import type { AdmissionInput } from "../sandbox/types.ts";

const bridge: HostBridge = { get: async () => undefined, list: async () => [], log: () => {}, event: () => {} };
const object: AdmissionInput["object"] = { apiVersion: "example.com/v1", kind: "Demo", metadata: { name: "a", namespace: "default" }, spec: { replicas: 3 } };
const request: AdmissionInput["request"] = { uid: "u1", operation: "CREATE", userInfo: { username: "alice" }, dryRun: false };
let sandbox: Sandbox;

before(async () => {
  sandbox = await Sandbox.start({ timeoutMs: 1000 });
});
after(async () => {
  await sandbox.close();
});

function revision(id: string, body: string) {
  return { id, entry: "reconciler.ts", modules: { "reconciler.ts": `export default { for: { apiVersion: "example.com/v1", kind: "Demo" }, reconcile() { return {}; }, ${body} };` } };
}

test("a revision's validate and mutate are found at load and called with (object, ctx, request)", async () => {
  const loaded = await sandbox.load(revision("both", `
    validate(o, ctx, req) { return o.spec.replicas > 2 ? { allowed: false, message: req.userInfo.username + ": at most 2", warnings: [req.operation] } : { allowed: true }; },
    mutate(o, ctx, req) { return { ...o, spec: { ...o.spec, tier: req.dryRun ? "dry" : "gold" } }; },`));
  assert.equal(loaded.hasValidate, true);
  assert.equal(loaded.hasMutate, true);
  assert.deepEqual(await sandbox.call("both", "validate", { object, request }, bridge), { allowed: false, message: "alice: at most 2", warnings: ["CREATE"] });
  const mutated = await sandbox.call("both", "mutate", { object, request }, bridge);
  assert.deepEqual(mutated.spec, { replicas: 3, tier: "gold" });
});

test("a revision without them says so, and calling them is a usage error", async () => {
  const loaded = await sandbox.load(revision("neither", ""));
  assert.equal(loaded.hasValidate, undefined);
  assert.equal(loaded.hasMutate, undefined);
  await assert.rejects(sandbox.call("neither", "validate", { object, request }, bridge), SandboxUsageError);
});

test("a validate that is not a function rejects the revision", async () => {
  await assert.rejects(sandbox.load(revision("bad", `validate: 3,`)), /'validate' must be a function/);
});

test("invalid answers and throws are errors naming the method", async () => {
  await sandbox.load(revision("wrong", `
    validate(o) { if (o.spec.replicas === 1) throw new Error("boom"); return o.spec.replicas === 2 ? { allowed: false } : { ok: true }; },
    mutate() { return { spec: {} }; },`));
  await assert.rejects(sandbox.call("wrong", "validate", { object, request }, bridge), (err: unknown) => err instanceof InvalidResultError && /unknown field "ok"/.test(err.message));
  await assert.rejects(sandbox.call("wrong", "validate", { object: { ...object, spec: { replicas: 2 } }, request }, bridge), /needs a non-empty message/);
  await assert.rejects(sandbox.call("wrong", "validate", { object: { ...object, spec: { replicas: 1 } }, request }, bridge), (err: unknown) => err instanceof UserCodeError && /validate of revision wrong threw: Error: boom/.test(err.message));
  await assert.rejects(sandbox.call("wrong", "mutate", { object, request }, bridge), /mutate must return the object to admit/);
});
