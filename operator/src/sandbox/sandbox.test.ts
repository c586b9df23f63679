/** Loading revisions, the ctx bridge, concurrency, abort and unload, through the public API. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fakeBridge, hostileRevision, resource } from "./fixtures.ts";
import { CallAbortedError, LoadError, Sandbox, SandboxUsageError, UserCodeError, type RevisionSource } from "./index.ts";

let sandbox: Sandbox;
before(async () => {
  sandbox = await Sandbox.start({ maxTimeoutMs: 10_000, maxMemoryMb: 128 });
});
after(() => sandbox.close());

const FOR = `for: { apiVersion: "example.com/v1", kind: "Demo" }`;

function revision(id: string, modules: Record<string, string>, limits?: RevisionSource["limits"]): RevisionSource {
  return { id, entry: "reconciler.ts", modules, ...(limits !== undefined ? { limits } : {}) };
}

test("a multi-module revision loads and reports its metadata", async () => {
  const loaded = await sandbox.load(revision("multi", {
    "reconciler.ts": `import { labels } from "./lib/labels.ts";
export default { ${FOR}, owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res) { return { children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name + "-cm", labels: labels(res) } }] }; },
  finalize() { return { done: true }; } };`,
    "lib/labels.ts": `import { PREFIX } from "../consts.ts"; export const labels = (res) => ({ [PREFIX + "owner"]: res.metadata.name });`,
    "consts.ts": `export const PREFIX = "demo.example.com/";`,
  }, { timeoutMs: 1e9, memoryMb: 1 }));
  assert.deepEqual(loaded, {
    id: "multi", for: { apiVersion: "example.com/v1", kind: "Demo" }, owns: [{ apiVersion: "v1", kind: "ConfigMap" }], hasFinalize: true,
    limits: { timeoutMs: 10_000, memoryMb: 8 },
  });
  assert.deepEqual(await sandbox.call("multi", "reconcile", resource("ok", "web"), fakeBridge()), {
    children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "web-cm", labels: { "demo.example.com/owner": "web" } } }],
  });
  assert.deepEqual(await sandbox.call("multi", "finalize", resource(), fakeBridge()), { done: true });
  assert.equal(await sandbox.load({ ...revision("multi", {}), modules: { "reconciler.ts": "" } }), await sandbox.load(revision("multi", { "reconciler.ts": "" })));
});

test("an import of anything but the revision's own files fails at load, naming the specifier", async () => {
  for (const specifier of ["node:fs", "lodash", "./missing.ts"]) {
    await assert.rejects(
      sandbox.load(revision(`bad-import-${specifier}`, { "reconciler.ts": `import x from "${specifier}"; export default { ${FOR}, reconcile() { return {}; } };` })),
      (error) => error instanceof LoadError && error.message.includes(`reconciler.ts imports "${specifier}"`),
    );
  }
});

test("a syntax error fails at load with its line and column", async () => {
  await assert.rejects(
    sandbox.load(revision("syntax", { "reconciler.ts": `export default {\n  ${FOR},\n  reconcile() { return {; },\n};` })),
    (error) => error instanceof LoadError && /reconciler\.ts does not compile: .*\[reconciler\.ts:3:\d+\]/.test(error.message),
  );
});

test("a module that throws while evaluating fails at load with where it threw", async () => {
  await assert.rejects(
    sandbox.load(revision("throws-at-load", {
      "reconciler.ts": `import "./lib.ts"; export default { ${FOR}, reconcile() { return {}; } };`,
      "lib.ts": `const config = undefined;\nexport const x = config.missing;`,
    })),
    (error) => error instanceof LoadError && /evaluating the modules threw TypeError: .*missing.* \(at lib\.ts:2:\d+\)/.test(error.message),
  );
});

test("a module that loops at top level fails at load within its time limit", async () => {
  await assert.rejects(
    sandbox.load(revision("loops-at-load", { "reconciler.ts": `while (true) {} export default {};` }, { timeoutMs: 200 })),
    (error) => error instanceof LoadError && /evaluating the modules used more than 200 ms of CPU time/.test(error.message),
  );
});

test("a bad default export fails at load saying what is wrong", async () => {
  const cases: Array<[string, RegExp]> = [
    ["export const x = 1;", /no default export/],
    ["export default 42;", /must be an object, got number/],
    [`export default { for: { apiVersion: "v1" }, reconcile() {} };`, /'for' must have non-empty string apiVersion and kind/],
    [`export default { ${FOR}, owns: {}, reconcile() {} };`, /'owns' must be an array/],
    [`export default { ${FOR}, owns: [{ kind: "X" }], reconcile() {} };`, /'owns\[0\]' must have non-empty/],
    [`export default { ${FOR} };`, /'reconcile' must be a function/],
    [`export default { ${FOR}, reconcile() {}, finalize: true };`, /'finalize' must be a function/],
  ];
  for (const [index, [code, message]] of cases.entries()) {
    await assert.rejects(sandbox.load(revision(`bad-export-${index}`, { "reconciler.ts": code })), (error) => error instanceof LoadError && message.test(error.message));
  }
  await assert.rejects(sandbox.load({ id: "no-entry", entry: "reconciler.ts", modules: { "lib.ts": "" } }), LoadError);
});

test("ctx.get and ctx.list round-trip through the bridge; logs, events and now arrive", async () => {
  await sandbox.load(revision("bridge", {
    "reconciler.ts": `export default { ${FOR}, owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  async reconcile(res, ctx) {
    const cm = { apiVersion: "v1", kind: "ConfigMap" };
    ctx.log.info("start", { name: res.metadata.name });
    ctx.log.debug("no fields");
    const found = await ctx.get(cm, "present", "default");
    const missing = await ctx.get(cm, "absent");
    const all = await ctx.list(cm, { namespace: "default", labels: { a: "b" } });
    let refused;
    try { await ctx.get({ apiVersion: "apps/v1", kind: "Deployment" }, "x"); } catch (e) { refused = e instanceof Error && e.message; }
    let badArgs;
    try { await ctx.get(cm, 42); } catch (e) { badArgs = e.message; }
    ctx.event({ type: "Warning", reason: "Checked", message: "all good" });
    found.data.mutated = "only my copy";
    return { status: { found: found.metadata.name, missing: missing === undefined, count: all.length, refused, badArgs, now: ctx.now() } };
  } };`,
  }));
  const objects = [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "present", namespace: "default" }, data: {} }];
  const base = fakeBridge(objects);
  const bridge = { ...base, get: (kind: { kind: string; apiVersion: string }, name: string, namespace?: string) =>
    kind.kind === "Deployment" ? Promise.reject(new Error("kind apps/v1 Deployment is not declared in for or owns")) : base.get(kind, name, namespace) };
  const before = Date.now();
  const result = (await sandbox.call("bridge", "reconcile", resource(), bridge)) as { status: Record<string, unknown> };
  assert.deepEqual({ ...result.status, now: undefined }, {
    found: "present", missing: true, count: 1, now: undefined,
    refused: "kind apps/v1 Deployment is not declared in for or owns",
    badArgs: "ctx.get: name must be a non-empty string",
  });
  assert.ok(typeof result.status["now"] === "number" && result.status["now"] >= before && result.status["now"] <= Date.now());
  assert.deepEqual(objects[0]?.data, {}, "user code mutated a copy, not the cache");
  assert.deepEqual(base.requests, [
    ["get", { apiVersion: "v1", kind: "ConfigMap" }, "present", "default"],
    ["get", { apiVersion: "v1", kind: "ConfigMap" }, "absent", undefined],
    ["list", { apiVersion: "v1", kind: "ConfigMap" }, { namespace: "default", labels: { a: "b" } }],
  ]);
  assert.deepEqual(base.logs, [["info", "start", { name: "demo" }], ["debug", "no fields", undefined]]);
  assert.deepEqual(base.events, [{ type: "Warning", reason: "Checked", message: "all good" }]);
});

test("a bridge rejection left uncaught is a UserCodeError with the bridge's message and a user-only stack", async () => {
  await sandbox.load(revision("bridge-throws", {
    "reconciler.ts": `import { read } from "./read.ts";\nexport default { ${FOR}, async reconcile(res, ctx) { return read(ctx); } };`,
    "read.ts": `export async function read(ctx) {\n  await ctx.list({ apiVersion: "v1", kind: "Secret" });\n  return {};\n}`,
  }));
  const bridge = { ...fakeBridge(), list: () => Promise.reject(new Error("kind v1 Secret is not declared")) };
  await assert.rejects(sandbox.call("bridge-throws", "reconcile", resource(), bridge), (error) => {
    assert.ok(error instanceof UserCodeError);
    assert.match(error.message, /reconcile of revision bridge-throws threw: Error: kind v1 Secret is not declared/);
    assert.match(error.userStack, /read\.ts:2:\d+/);
    assert.doesNotMatch(error.userStack, /chakrator:prelude|isolated-vm/);
    assert.ok(error.cause instanceof Error && error.cause.message === "kind v1 Secret is not declared");
    return true;
  });
});

test("a thrown non-Error value is reported", async () => {
  await sandbox.load(hostileRevision("throws-string", "throw 'plain string';"));
  await assert.rejects(sandbox.call("throws-string", "reconcile", resource("hostile"), fakeBridge()), /a non-Error value was thrown: "plain string"/);
});

test("module state persists across calls of a revision, and each call gets its own resource copy", async () => {
  await sandbox.load(hostileRevision("stateful", "res.metadata.name = 'changed';"));
  const input = resource("hostile");
  const first = (await sandbox.call("stateful", "reconcile", input, fakeBridge())) as { status: { calls: number } };
  const second = (await sandbox.call("stateful", "reconcile", input, fakeBridge())) as { status: { calls: number } };
  assert.equal(second.status.calls, first.status.calls + 1);
  assert.equal(input.metadata.name, "demo");
});

test("calls of one revision run concurrently up to the pool size", async () => {
  await sandbox.load(hostileRevision("concurrent", "await ctx.get({ apiVersion: 'v1', kind: 'ConfigMap' }, res.metadata.name);", { timeoutMs: 5000 }));
  let inBridge = 0;
  let peak = 0;
  const release: Array<() => void> = [];
  const bridge = { ...fakeBridge(), get: () => {
    inBridge++;
    peak = Math.max(peak, inBridge);
    return new Promise<undefined>((resolve) => release.push(() => { inBridge--; resolve(undefined); }));
  } };
  const calls = [1, 2, 3].map((n) => sandbox.call("concurrent", "reconcile", resource("hostile", `r${n}`), bridge));
  while (release.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(release.length, 2, "the third call waits for a free isolate");
  while (release.length > 0) {
    release.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Promise.all(calls);
  assert.equal(peak, 2);
});

test("an aborted call rejects with CallAbortedError and the revision keeps working", async () => {
  await sandbox.load(hostileRevision("abortable", "await new Promise(() => {});", { timeoutMs: 5000 }));
  const controller = new AbortController();
  const call = sandbox.call("abortable", "reconcile", resource("hostile"), fakeBridge(), { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("shutting down")), 50);
  await assert.rejects(call, (error) => error instanceof CallAbortedError && error.cause instanceof Error && error.cause.message === "shutting down");
  // Aborting a running call disposes its isolate: the next call runs in a fresh one (calls restarts at 1).
  assert.deepEqual(await sandbox.call("abortable", "reconcile", resource(), fakeBridge()), { status: { ok: true, calls: 1 } });
});

test("unload waits for running calls, then refuses new ones", async () => {
  await sandbox.load(hostileRevision("unloadable", "await ctx.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 'x');", { timeoutMs: 5000 }));
  let answer: () => void = () => {};
  const bridge = { ...fakeBridge(), get: () => new Promise<undefined>((resolve) => (answer = () => resolve(undefined))) };
  const running = sandbox.call("unloadable", "reconcile", resource("hostile"), bridge);
  await new Promise((resolve) => setTimeout(resolve, 50));
  let unloaded = false;
  const unloading = sandbox.unload("unloadable").then(() => (unloaded = true));
  await assert.rejects(sandbox.call("unloadable", "reconcile", resource(), fakeBridge()), SandboxUsageError);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(unloaded, false);
  answer();
  assert.deepEqual(await running, { status: { ok: true, calls: 1 } });
  await unloading;
  assert.equal(unloaded, true);
  assert.equal((await sandbox.stats()).isolates["unloadable"], undefined);
});

test("misuse is a SandboxUsageError", async () => {
  await assert.rejects(sandbox.call("nope", "reconcile", resource(), fakeBridge()), SandboxUsageError);
  await sandbox.load(hostileRevision("no-finalize", ""));
  await assert.rejects(sandbox.call("no-finalize", "finalize", resource(), fakeBridge()), /has no finalize/);
  const cyclic: Record<string, unknown> = {};
  cyclic["self"] = cyclic;
  await assert.rejects(sandbox.call("no-finalize", "reconcile", cyclic, fakeBridge()), /resource is not JSON/);
});
