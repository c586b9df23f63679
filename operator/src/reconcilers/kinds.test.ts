/**
 * Kind typings from the real API server's OpenAPI v3: a CRD with nested objects,
 * arrays, enums, int-or-string, preserve-unknown-fields and an embedded resource, and
 * the built-in apps/v1 Deployment, compiled as fixture sources with the real compiler.
 * Valid objects pass, wrong ones are diagnostics at their own line and column.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, installCrds, kubeConfig, testCluster, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient } from "../kube/client.ts";
import { OpenApiReader } from "../kube/openapi.ts";
import { ReconcilerCompiler, formatDiagnostics, type CompileResult, type Diagnostic } from "./compile.ts";
import { KindTypings, apiVersionsIn, generateKindModule } from "./kinds.ts";

const GROUP = `kinds-${process.pid}.test.chakrator.dev`;
const GV = `${GROUP}/v1`;

const gadgetSchema = (extraField = false) => ({
  type: "object",
  required: ["spec"],
  properties: {
    spec: {
      type: "object",
      required: ["size"],
      properties: {
        size: { type: "string", enum: ["small", "large"], description: "How big the gadget is." },
        replicas: { type: "integer", minimum: 0 },
        port: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] },
        tags: { type: "array", items: { type: "string" } },
        parts: { type: "array", items: { type: "object", required: ["name"], properties: { name: { type: "string" }, weight: { type: "number" } } } },
        nested: { type: "object", properties: { deep: { type: "object", properties: { flag: { type: "boolean" } } } } },
        extra: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        template: { type: "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true },
        ...(extraField ? { colour: { type: "string" } } : {}),
      },
    },
    status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
  },
});

/** 1-based line and column of the first `needle` in `text`. */
function at(text: string, needle: string, from = 0): { line: number; column: number } {
  const i = text.indexOf(needle, from);
  assert.ok(i >= 0, `fixture has ${needle}`);
  const before = text.slice(0, i).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

function errors(r: CompileResult): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === "error");
}

describe("kind typings from the cluster's OpenAPI v3", () => {
  let info: ControlPlaneInfo;
  let client: KubeClient;
  let reader: OpenApiReader;
  let kinds: KindTypings;
  const compiler = new ReconcilerCompiler();

  const applyCrd = async (extraField: boolean) => {
    await client.apply({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `gadgets.${GROUP}` },
      spec: {
        group: GROUP,
        scope: "Namespaced",
        names: { plural: "gadgets", singular: "gadget", kind: "Gadget" },
        versions: [{ name: "v1", served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: gadgetSchema(extraField) } }],
      },
    }, { fieldManager: "chakrator-tests", force: true });
  };

  /** Compiles with the typings the source names, as the operator does. */
  const compile = async (files: Record<string, string>): Promise<CompileResult> => {
    const { modules, known } = await kinds.modulesFor(files);
    compiler.setKinds(modules, known);
    return compiler.compile(files);
  };

  before(async () => {
    info = await testCluster();
    await installCrds(info);
    client = KubeClient.fromKubeConfig(kubeConfig(info));
    await applyCrd(false);
    reader = new OpenApiReader(client, { ttlMs: 0, minRefreshMs: 0 });
    kinds = new KindTypings(reader);
    await eventually(async () => (await kinds.module(GV))?.kinds.includes("Gadget"), 30_000, "the Gadget schema in /openapi/v3");
  });
  after(() => client.close());

  it("generates a module per group-version with the kinds as literal-typed interfaces", async () => {
    const apps = await kinds.module("apps/v1");
    assert.ok(apps);
    assert.ok(apps.kinds.includes("Deployment") && apps.kinds.includes("StatefulSet"));
    assert.match(apps.text, /export type Deployment = \{\n {2}apiVersion: "apps\/v1";\n {2}kind: "Deployment";/);
    assert.match(apps.text, /export type IntOrString = number \| string;/);
    const core = await kinds.module("v1");
    assert.ok(core?.kinds.includes("ConfigMap"));
    assert.equal(await kinds.module("nothere.example.com/v1"), undefined);
    assert.deepEqual([...apiVersionsIn({ "a.ts": 'import type { X } from "chakrator/apps/v1";\nconst k = { apiVersion: "v1", kind: "ConfigMap" };' })].sort(), ["apps/v1", "v1"]);
  });

  it("a CRD with nested objects, arrays, enums, int-or-string and preserve-unknown-fields accepts valid objects", async () => {
    const r = await compile({
      "reconciler.ts": `import type { Reconciler } from "chakrator";
import type { Gadget } from "chakrator/${GV}";

const good: Gadget["spec"][] = [
  { size: "small" },
  { size: "large", replicas: 2, port: 8080, tags: ["a", "b"], parts: [{ name: "p", weight: 1.5 }], nested: { deep: { flag: true } } },
  { size: "small", port: "http", extra: { anything: [1, "two", { three: null }] }, template: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" }, data: { a: "b" } } },
];

export default {
  for: { apiVersion: "${GV}", kind: "Gadget" },
  reconcile(res) {
    const size: "small" | "large" = res.spec.size;
    const port: number | string | undefined = res.spec.port;
    return { status: { size, port: port ?? 0, n: good.length, name: res.metadata.name } };
  },
} satisfies Reconciler;
`,
    });
    assert.equal(r.ok, true, formatDiagnostics(r.diagnostics));
  });

  it("refuses wrong values in the CRD's fields, each at its own line and column", async () => {
    // [the spec's fields, where the error is, what it says]
    const wrong: Array<[string, string, RegExp]> = [
      ['size: "medium"', "size", /Type '"medium"' is not assignable to type '"small" \| "large"'/],
      ['size: "small", port: true', "port", /Type 'true' is not assignable to type 'string \| number \| undefined'/],
      ['size: "small", tags: [1]', "1]", /Type 'number' is not assignable to type 'string'/],
      ['size: "small", parts: [{ weight: 2 }]', "{ weight", /Property 'name' is missing/],
      ['size: "small", nested: { deep: { flag: "yes" } }', "flag", /Type 'string' is not assignable to type 'boolean \| undefined'/],
      ['size: "small", colr: 1', "colr", /'colr' does not exist in type/],
      ['size: "small", template: { kind: "ConfigMap" }', "template", /Property 'apiVersion' is missing/],
      ["replicas: 1", "g:", /Property 'size' is missing/],
    ];
    for (const [fields, where, message] of wrong) {
      const text = `import type { Gadget } from "chakrator/${GV}";
import type { Reconciler } from "chakrator";
const g: Gadget["spec"] = { ${fields} };
export default { for: { apiVersion: "v1", kind: "X" }, reconcile() { return { status: { g: String(g) } }; } } satisfies Reconciler;
`;
      const r = await compile({ "reconciler.ts": text });
      const errs = errors(r);
      assert.equal(errs.length, 1, `${fields}: ${formatDiagnostics(r.diagnostics)}`);
      assert.match(errs[0]!.message, message, fields);
      const literal = text.indexOf(`{ ${fields} }`);
      const expected = where === "g:" ? at(text, "g: Gadget") : at(text, where, literal);
      assert.deepEqual({ line: errs[0]!.line, column: errs[0]!.column }, expected, `${fields}: ${formatDiagnostics(r.diagnostics)}`);
    }
  });

  const deploymentSource = (podSpec: string) => `import type { Reconciler } from "chakrator";

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }, { apiVersion: "apps/v1", kind: "Deployment" }, { apiVersion: "v1", kind: "Service" }],
  reconcile(res) {
    const labels = { app: res.metadata.name };
    return {
      children: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: res.metadata.name }, data: { message: res.spec.message } },
        { apiVersion: "v1", kind: "Service", metadata: { name: res.metadata.name }, spec: { selector: labels, ports: [{ port: 80, targetPort: "http" }] } },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: res.metadata.name },
          spec: {
            replicas: res.spec.replicas ?? 1,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                ${podSpec}
              },
            },
          },
        },
      ],
    };
  },
} satisfies Reconciler;
`;

  it("types the resource and the children from for and owns: a valid Deployment passes", async () => {
    const r = await compile({ "reconciler.ts": deploymentSource('containers: [{ name: "web", image: "nginx", imagePullPolicy: "IfNotPresent", ports: [{ containerPort: 8080, name: "http" }] }],') });
    assert.equal(r.ok, true, formatDiagnostics(r.diagnostics));
  });

  it("checks Deployment children field by field, with line and column", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['contaners: [{ name: "web", image: "nginx" }],', "contaners", /'contaners' does not exist in type 'PodSpec'. Did you mean to write 'containers'\?/],
      ['containers: [{ name: "web", image: "nginx", imagePullPolicy: "Sometimes" }],', "imagePullPolicy", /Type '"Sometimes"' is not assignable to type '"Always" \| "IfNotPresent" \| "Never"/],
      ['containers: [{ name: "web", image: "nginx", ports: [{ containerPort: "80" }] }],', "containerPort", /Type 'string' is not assignable to type 'number'/],
      ['containers: [{ image: "nginx" }],', "{ image", /Property 'name' is missing/],
      ['containers: [{ name: "web", image: "nginx" }], restartPolicy: "Sometimes",', "restartPolicy", /Type '"Sometimes"' is not assignable to type '"Always" \| "Never" \| "OnFailure"/],
    ];
    for (const [podSpec, where, message] of cases) {
      const text = deploymentSource(podSpec);
      const r = await compile({ "reconciler.ts": text });
      const errs = errors(r);
      assert.equal(errs.length, 1, `${where}: ${formatDiagnostics(r.diagnostics)}`);
      assert.match(errs[0]!.message, message, where);
      assert.deepEqual({ line: errs[0]!.line, column: errs[0]!.column }, at(text, where), `${where}: ${formatDiagnostics(r.diagnostics)}`);
    }
  });

  it("a generated kind works as the explicit resource type: Reconciler<Gadget>", async () => {
    const r = await compile({ "reconciler.ts": `import type { Reconciler } from "chakrator";
import type { Gadget } from "chakrator/${GV}";
export default {
  for: { apiVersion: "${GV}", kind: "Gadget" },
  reconcile(res: Gadget) { return { status: { size: res.spec.size, name: res.metadata.name } }; },
} satisfies Reconciler<Gadget>;
` });
    assert.equal(r.ok, true, formatDiagnostics(r.diagnostics));
  });

  it("keeps a kind with no schema loose, beside typed ones", async () => {
    const text = `import type { Reconciler } from "chakrator";
export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "nothere.example.com/v1", kind: "Thing" }, { apiVersion: "apps/v1", kind: "Deployment" }],
  reconcile(res) {
    return { children: [
      { apiVersion: "nothere.example.com/v1", kind: "Thing", metadata: { name: "t" }, anything: { goes: [1] } },
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: { selector: {}, template: { spec: { containers: [], hostNetwork: "yes" } } } },
    ] };
  },
} satisfies Reconciler;
`;
    const r = await compile({ "reconciler.ts": text });
    const errs = errors(r);
    // Beside a kind with no schema, TypeScript names the field's path at the child.
    assert.equal(errs.length, 1, formatDiagnostics(r.diagnostics));
    assert.equal(errs[0]!.line, at(text, "hostNetwork").line);
    assert.match(errs[0]!.message, /The types of 'spec\.template\.spec\.hostNetwork' are incompatible/);
    // Without owns literals, or without typings, today's loose Child.
    const computed = text.replace("owns: [", "owns: owned,\n  unused: [").replace("export default {", "const owned = [{ apiVersion: \"apps/v1\", kind: \"Deployment\" }];\nexport default {").replace("} satisfies Reconciler;", "} satisfies Reconciler & { unused: unknown };");
    const loose = await compile({ "reconciler.ts": computed });
    assert.equal(loose.ok, true, formatDiagnostics(loose.diagnostics));
  });

  it("refuses a value import of a kind module and an apiVersion the cluster does not serve", async () => {
    const r = await compile({ "reconciler.ts": `import type { Reconciler } from "chakrator";
import type { Thing } from "chakrator/nothere.example.com/v1";
import { Deployment } from "chakrator/apps/v1";
export default { for: { apiVersion: "v1", kind: "X" }, reconcile() { return {}; } } satisfies Reconciler;
` });
    const messages = errors(r).map((d) => `${d.line}: ${d.message}`);
    assert.ok(messages.some((m) => /^2: Cannot import "chakrator\/nothere\.example\.com\/v1": the cluster serves no apiVersion "nothere\.example\.com\/v1" \(it serves .*apps\/v1/.test(m)), messages.join("\n"));
    assert.ok(messages.some((m) => /^3: "chakrator\/apps\/v1" provides types only/.test(m)), messages.join("\n"));
  });

  it("follows a CRD change: the index hash changes and the module is generated again", async () => {
    const before = await kinds.module(GV);
    assert.ok(before && !before.text.includes("colour"));
    const fetches = reader.fetches;
    assert.equal((await kinds.module("apps/v1"))?.version, (await kinds.module("apps/v1"))?.version);
    await applyCrd(true);
    const afterChange = await eventually(async () => {
      const m = await kinds.module(GV);
      return m?.text.includes("colour?: string;") ? m : undefined;
    }, 30_000, "the changed Gadget schema");
    assert.notEqual(afterChange.version, before.version);
    assert.ok(reader.fetches > fetches);
    const r = await compile({ "reconciler.ts": `import type { Reconciler } from "chakrator";
import type { Gadget } from "chakrator/${GV}";
const g: Gadget["spec"] = { size: "small", colour: "red" };
export default { for: { apiVersion: "v1", kind: "X" }, reconcile() { return { status: { c: g.colour ?? "" } }; } } satisfies Reconciler;
` });
    assert.equal(r.ok, true, formatDiagnostics(r.diagnostics));
  });

  it("never fails generation on odd schemas", () => {
    const m = generateKindModule("odd.example.com/v1", {
      components: {
        schemas: {
          "com.example.odd.v1.Odd": { type: "object", properties: { "weird-key": { type: "string" }, "*/": { description: "*/ closes comments" }, ref: { $ref: "#/components/schemas/missing" }, n: { type: "string", nullable: true } }, "x-kubernetes-group-version-kind": [{ group: "odd.example.com", version: "v1", kind: "Odd" }] },
          "a.b.Odd": { type: "string" },
        },
      },
    });
    assert.deepEqual(m.kinds, ["Odd"]);
    assert.match(m.text, /"weird-key"\?: string;/);
    assert.match(m.text, /n\?: string \| null;/);
    assert.match(m.text, /export type ABOdd = string;/);
    compiler.setKinds([m]);
    const r = compiler.compile({ "reconciler.ts": `import type { Reconciler } from "chakrator";
import type { Odd } from "chakrator/odd.example.com/v1";
const o: Odd = { apiVersion: "odd.example.com/v1", kind: "Odd", "weird-key": "k", n: null };
export default { for: { apiVersion: "v1", kind: "X" }, reconcile() { return { status: { k: o["weird-key"] ?? "" } }; } } satisfies Reconciler;
` });
    assert.equal(r.ok, true, formatDiagnostics(r.diagnostics));
  });
});
