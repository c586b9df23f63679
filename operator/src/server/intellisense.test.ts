/**
 * IntelliSense routes on the real stack (operator, compiler process, API server):
 * completions with member types, hover, signature help, definition into the contract,
 * format, the cluster's kind typings in validation (a misspelt Deployment field at its
 * line and column), and who may ask (403 for a person who may not edit reconcilers).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, sampleSource } from "../../testenv/index.ts";
import type { KubeObject } from "../kube/client.ts";
import { call, startFixture, type Fixture } from "./test-fixture.ts";

const seed = sampleSource("01-message")["reconciler.ts"]!;

describe("IntelliSense routes", () => {
  let f: Fixture;
  const ref = () => ({ namespace: f.ns, name: "reconciler" });
  const ask = async (op: string, text: string, pos?: number, token?: string) => {
    const body: Record<string, unknown> = { reconciler: ref(), files: { "reconciler.ts": text }, file: "reconciler.ts" };
    if (pos !== undefined) body["pos"] = pos;
    return call(f.url, "POST", `/api/intellisense/${op}`, { body, ...(token === undefined ? { token: f.info.adminToken } : { token }) });
  };

  before(async () => {
    f = await startFixture("intellisense", { auth: "token" });
  });
  after(async () => {
    await f?.stop();
  });

  it("completes res.spec. with message and replicas and their types", async () => {
    const text = seed.replace("res.spec.message.toUpperCase()", "res.spec.");
    const r = await ask("completions", text, text.indexOf("res.spec.") + "res.spec.".length);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const items = r.body.answer.items as Array<{ label: string; detail?: string; optional?: boolean }>;
    assert.deepEqual(items.map((i) => i.label).sort(), ["message", "replicas"]);
    assert.match(items.find((i) => i.label === "message")!.detail!, /message: string/);
    assert.match(items.find((i) => i.label === "replicas")!.detail!, /replicas\?: number/);
    assert.equal(r.body.answer.isMember, true);
    assert.equal(typeof r.body.durationMs, "number");
  });

  it("completes ctx. with the contract's members and their documentation", async () => {
    const text = seed.replace('ctx.log.info("reconciling"', 'ctx.; ctx.log.info("reconciling"');
    const r = await ask("completions", text, text.indexOf("ctx.;") + 4);
    const items = r.body.answer.items as Array<{ label: string; detail?: string; documentation?: string }>;
    assert.deepEqual(items.map((i) => i.label).sort(), ["event", "get", "list", "log", "now"]);
    assert.match(items.find((i) => i.label === "get")!.documentation!, /Reads one object of the `for` kind/);
  });

  it("shows ctx.get's signature on hover and inside its parentheses", async () => {
    const text = seed.replace('ctx.log.info("reconciling"', 'await ctx.get(); ctx.log.info("reconciling"').replace("reconcile(res", "async reconcile(res");
    const hover = await ask("quickinfo", text, text.indexOf("ctx.get") + 5);
    assert.match(hover.body.answer.display, /^\(method\) Context\.get<Resource>\(kind: KindRef, name: string, namespace\?: string\): Promise<Resource \| undefined>$/);
    assert.match(hover.body.answer.documentation, /operator's\s+cache/);
    const sig = await ask("signature", text, text.indexOf("ctx.get(") + 8);
    assert.match(sig.body.answer.items[0].label, /get\(kind: KindRef, name: string, namespace\?: string\)/);
    assert.equal(sig.body.answer.argument, 0);
  });

  it("goes to a definition in the contract, read-only, with the lines around it", async () => {
    const r = await ask("definition", seed, seed.indexOf("Reconciler<") + 2);
    const d = r.body.answer[0];
    assert.equal(d.file, "chakrator");
    assert.equal(d.readOnly, true);
    assert.match(d.preview.text, /export interface Reconciler</);
    // And into the cluster's kind typings.
    const text = `import type { Deployment } from "chakrator/apps/v1";\nexport const d: Deployment | undefined = undefined;\n`;
    const k = (await ask("definition", text, text.indexOf("Deployment |") + 2)).body.answer[0];
    assert.deepEqual([k.file, k.readOnly], ["chakrator/apps/v1", true]);
    assert.match(k.preview.text, /export type Deployment = \{\n {2}apiVersion: "apps\/v1";/);
  });

  it("formats with TypeScript's formatter", async () => {
    const text = "const x={a:1,b:[1,2]}\nexport default x\n";
    const r = await ask("format", text);
    let out = text;
    for (const e of [...r.body.answer].sort((a: { from: number }, b: { from: number }) => b.from - a.from)) out = out.slice(0, e.from) + e.insert + out.slice(e.to);
    assert.equal(out, "const x = { a: 1, b: [1, 2] }\nexport default x\n");
  });

  it("validates children against the cluster's schemas: a misspelt Deployment field at its line and column", async () => {
    const text = `import type { Reconciler } from "chakrator";
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "apps/v1", kind: "Deployment" }],
  reconcile(res) {
    return { children: [{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: res.metadata.name },
      spec: { selector: {}, template: { spec: { contaners: [] } } } }] };
  },
} satisfies Reconciler;
`;
    const r = await call(f.url, "POST", "/api/validate", { token: f.info.adminToken, body: { reconciler: ref(), files: { "reconciler.ts": text } } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const d = r.body.diagnostics.find((x: { code: number }) => x.code === 2561);
    assert.ok(d, JSON.stringify(r.body.diagnostics));
    assert.deepEqual([d.line, d.column], [7, text.split("\n")[6]!.indexOf("contaners") + 1]);
    assert.match(d.message, /'contaners' does not exist in type 'PodSpec'/);
    // And the language service sees the same kinds: completion inside the Deployment's pod spec.
    const inPod = text.replace("contaners: []", "");
    const c = await ask("completions", inPod, inPod.indexOf("spec: {  }") + 7);
    assert.ok((c.body.answer.items as Array<{ label: string }>).some((i) => i.label === "containers"), JSON.stringify(c.body.answer.items.slice(0, 5)));
  });

  it("goes to a definition in another module of the ConfigMap, which is editable", async () => {
    const files = { "reconciler.ts": `import { greet } from "./lib.ts";\n${seed.replace('ctx.log.info("reconciling"', "ctx.log.info(greet()")}`, "lib.ts": "export function greet(): string {\n  return \"hi\";\n}\n" };
    const pos = files["reconciler.ts"].indexOf("greet()") + 1;
    const r = await call(f.url, "POST", "/api/intellisense/definition", { token: f.info.adminToken, body: { reconciler: ref(), files, file: "reconciler.ts", pos } });
    assert.deepEqual(r.body.answer.map((d: { file: string; readOnly: boolean; line: number; column: number }) => [d.file, d.readOnly, d.line, d.column]), [["lib.ts", false, 1, 17]]);
  });

  it("the operator's rejection of a misspelt Deployment field (kubectl path) names its line and column", async () => {
    const text = `import type { Reconciler } from "chakrator";
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "apps/v1", kind: "Deployment" }],
  reconcile(res) {
    return { children: [{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: res.metadata.name },
      spec: { selector: {}, template: { spec: { containers: [{ name: "web", image: "nginx", imagePullPolicy: "Sometimes" }] } } } }] };
  },
} satisfies Reconciler;
`;
    const cm = await f.admin.get<KubeObject & { data?: Record<string, string> }>("v1", "ConfigMap", "reconciler", f.ns);
    await f.admin.replace({ ...cm!, data: { "reconciler.ts": text } });
    const col = text.split("\n")[6]!.indexOf("imagePullPolicy") + 1;
    const event = await eventually(async () => {
      const list = await f.admin.request<{ items: Array<{ reason?: string; message?: string; involvedObject?: { name?: string } }> }>("GET", `/api/v1/namespaces/${f.ns}/events`);
      return list.items.find((e) => e.reason === "RevisionRejected" && e.involvedObject?.name === "reconciler" && e.message?.includes("Sometimes"));
    }, 30_000, "the RevisionRejected Event");
    assert.match(event.message!, new RegExp(`reconciler\\.ts:7:${col} error TS2322: Type '"Sometimes"' is not assignable to type '"Always" \\| "IfNotPresent" \\| "Never"`));
  });

  it("is for people who may edit reconcilers, and refuses bad requests", async () => {
    const r = await ask("completions", seed, 10, f.info.userToken);
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal((await ask("nonsense", seed, 1)).status, 404);
    assert.equal((await ask("completions", seed, -1)).status, 400);
  });
});
