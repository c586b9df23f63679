/**
 * Tests of the compile step through its public API: real type-checks against the
 * shipped typings, real emitted JavaScript (the seed is imported and run), and the
 * never-throws guarantee on junk. One warm compiler is shared to keep the suite fast.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChakratorCode, ReconcilerCompiler, formatDiagnostics, resolveImport } from "./compile.ts";
import type { CompileResult, CompileSuccess, Diagnostic } from "./compile.ts";

const compiler = new ReconcilerCompiler();

/** The seed reconciler of the contract (README "Writing a reconciler"), with requeueAfterSeconds and finalize. */
const SEED = `import type { Reconciler, Resource } from "chakrator";

interface MyResource extends Resource {
  spec: { message: string; replicas?: number };
}

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: MyResource, ctx) {
    ctx.log.info("reconciling", { name: res.metadata.name });
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: \`\${res.metadata.name}-message\` },
          data: { message: res.spec.message },
        },
      ],
      status: { message: res.spec.message.toUpperCase() },
      requeueAfterSeconds: 300,
    };
  },
  finalize(res, ctx) {
    return { done: true };
  },
} satisfies Reconciler<MyResource>;
`;

/** A minimal valid entry, for tests about something else. */
const MINIMAL = `import type { Reconciler } from "chakrator";
export default { for: { apiVersion: "v1", kind: "X" }, reconcile() { return {}; } } satisfies Reconciler;
`;

function ok(result: CompileResult): CompileSuccess {
  assert.equal(result.ok, true, formatDiagnostics(result.diagnostics, 50));
  return result as CompileSuccess;
}

function errors(result: CompileResult): Diagnostic[] {
  assert.equal(result.ok, false, "expected the source to be rejected");
  const errs = result.diagnostics.filter((d) => d.severity === "error");
  assert.ok(errs.length > 0);
  return errs;
}

function only(diags: Diagnostic[], code: number): Diagnostic {
  const found = diags.filter((d) => d.code === code);
  assert.equal(found.length, 1, `expected one ${code} in:\n${formatDiagnostics(diags, 50)}`);
  return found[0] as Diagnostic;
}

describe("ReconcilerCompiler.compile: valid sources", () => {
  it("compiles the seed reconciler with no diagnostics into runnable ESM", async () => {
    const r = ok(compiler.compile({ "reconciler.ts": SEED }));
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.entry, "reconciler.ts");
    const js = r.modules["reconciler.ts"] ?? "";
    assert.match(js, /^export default \{/m);
    for (const typeSyntax of ["import type", "interface", "satisfies", ": MyResource", "chakrator"]) {
      assert.ok(!js.includes(typeSyntax), `emitted JS still has ${typeSyntax}:\n${js}`);
    }
    const mod = (await import(`data:text/javascript,${encodeURIComponent(js)}`)) as { default: Record<string, unknown> };
    const logged: string[] = [];
    const ctx = { log: { info: (m: string) => logged.push(m) } };
    const res = { metadata: { name: "demo" }, spec: { message: "hi" } };
    const out = (mod.default["reconcile"] as (r: unknown, c: unknown) => { status: unknown; children: unknown[] })(res, ctx);
    assert.deepEqual(out.status, { message: "HI" });
    assert.equal(out.children.length, 1);
    assert.deepEqual(logged, ["reconciling"]);
  });

  it("compiles a module graph, keeps relative specifiers, erases type imports", () => {
    const r = ok(
      compiler.compile({
        "reconciler.ts": `import type { Reconciler } from "chakrator";
import { type Child } from "chakrator";
import { labels } from "./lib.ts";
import { suffix } from "./util";
const none: Child[] = [];
export default {
  for: { apiVersion: "v1", kind: "X" },
  reconcile(res) { return { children: none, status: { l: labels(res.metadata.name + suffix) } }; },
} satisfies Reconciler;
`,
        "lib.ts": `export function labels(name: string): Record<string, string> { return { app: name }; }\n`,
        "util.ts": `export const suffix: string = "-x";\n`,
        "README.md": "not code",
      }),
    );
    assert.deepEqual(Object.keys(r.modules).sort(), ["lib.ts", "reconciler.ts", "util.ts"]);
    const entry = r.modules["reconciler.ts"] ?? "";
    assert.match(entry, /import \{ labels \} from "\.\/lib\.ts";/);
    assert.match(entry, /import \{ suffix \} from "\.\/util";/);
    assert.ok(!entry.includes("chakrator"), entry);
    assert.match(r.modules["lib.ts"] ?? "", /export function labels\(name\)/);
  });

  it("accepts erasable-or-not TS syntax like enums, since the output is compiled JS", () => {
    const r = ok(compiler.compile({ "reconciler.ts": `enum Phase { Ready }\nconst p: Phase = Phase.Ready;\n${MINIMAL}` }));
    assert.match(r.modules["reconciler.ts"] ?? "", /Phase\[Phase\["Ready"\] = 0\]/);
  });
});

describe("ReconcilerCompiler.compile: errors", () => {
  it("reports a syntax error at its line and column", () => {
    const errs = errors(compiler.compile({ "reconciler.ts": `${MINIMAL}const x = "abc;\n` }));
    const d = only(errs, 1002);
    assert.deepEqual([d.file, d.line, d.column], ["reconciler.ts", 3, 16]);
    assert.match(d.message, /Unterminated string literal/);
  });

  it("reports type errors with line, column and code", () => {
    const bad = `import type { Reconciler, Resource } from "chakrator";

interface MyResource extends Resource {
  spec: { message: string };
}

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  reconcile(res: MyResource) {
    return { children: "x", status: { message: res.spec.message } };
  },
} satisfies Reconciler<MyResource>;
`;
    // Through `satisfies`, TypeScript blames the method, with the cause last in the chain.
    const d = only(errors(compiler.compile({ "reconciler.ts": bad })), 2322);
    assert.deepEqual([d.file, d.line, d.column], ["reconciler.ts", 9, 3]);
    assert.match(d.message, /\n +Type 'string' is not assignable to type 'LooseChild\[\]'\.$/);
    // With a declared return type, it blames the property itself.
    const typed = bad.replace("reconcile(res: MyResource) {", "reconcile(res: MyResource): ReconcileResult {").replace("Resource }", "Resource, ReconcileResult }");
    const p = only(errors(compiler.compile({ "reconciler.ts": typed })), 2322);
    assert.deepEqual([p.line, p.column, p.message], [10, 14, "Type 'string' is not assignable to type 'LooseChild[]'."]);

    const t = only(errors(compiler.compile({ "reconciler.ts": `${MINIMAL}const n: string = 42;\n` })), 2322);
    assert.deepEqual([t.line, t.column], [3, 7]);
    assert.equal(formatDiagnostics([t]), "reconciler.ts:3:7 error TS2322: Type 'number' is not assignable to type 'string'.");
  });

  it("rejects a value import of \"chakrator\" but accepts type imports", () => {
    const d = only(
      errors(compiler.compile({ "reconciler.ts": `import { Resource } from "chakrator";\n${MINIMAL}` })),
      ChakratorCode.ValueImportOfTypings,
    );
    assert.deepEqual([d.line, d.column], [1, 26]);
    assert.match(d.message, /types only.*import type/);
    ok(compiler.compile({ "reconciler.ts": `import { type Resource } from "chakrator";\nimport type * as c from "chakrator";\n${MINIMAL}` }));
  });

  it("rejects imports of Node built-ins, packages and unknown or escaping paths, naming the specifier", () => {
    for (const spec of ["node:fs", "fs", "lodash", "./missing.ts", "./missing", "../x.ts"]) {
      const errs = errors(compiler.compile({ "reconciler.ts": `import fs from "${spec}";\n${MINIMAL}`, "x.ts": "" }));
      const d = only(errs, ChakratorCode.ForbiddenImport);
      assert.deepEqual([d.file, d.line, d.column], ["reconciler.ts", 1, 16]);
      assert.ok(d.message.includes(`"${spec}"`), d.message);
      assert.match(d.message, /only relative imports of the ConfigMap's other \.ts keys/);
      assert.equal(errs.length, 1, `TypeScript's own "cannot find module" should be folded in: ${formatDiagnostics(errs)}`);
    }
    const dyn = errors(compiler.compile({ "reconciler.ts": `${MINIMAL}void import("./lib.ts");\n`, "lib.ts": "export {};" }));
    assert.match(only(dyn, ChakratorCode.ForbiddenImport).message, /Dynamic import/);
  });

  it("rejects Node and browser globals with an explanation", () => {
    const errs = errors(
      compiler.compile({ "reconciler.ts": `${MINIMAL}const e = process.env;\nconst f = require("fs");\nconsole.log(1);\nsetTimeout(() => {}, 1);\n` }),
    );
    assert.deepEqual(
      errs.map((d) => [d.line, d.message.match(/'(\w+)'/)?.[1]]),
      [[3, "process"], [4, "require"], [5, "console"], [6, "setTimeout"]],
    );
    for (const d of errs) assert.match(d.message, /no Node\.js or browser globals/);
  });

  it("requires reconciler.ts with a Reconciler as its default export", () => {
    const missing = only(errors(compiler.compile({ "lib.ts": "export const a = 1;" })), ChakratorCode.MissingEntry);
    assert.equal(missing.file, "reconciler.ts");
    only(errors(compiler.compile({ "reconciler.ts": " \n\t" })), ChakratorCode.EmptyModule);
    only(errors(compiler.compile({})), ChakratorCode.MissingEntry);
    const noDefault = only(errors(compiler.compile({ "reconciler.ts": "export const a = 1;\n" })), ChakratorCode.NotAReconciler);
    assert.match(noDefault.message, /no default export/);
    const notReconciler = only(
      errors(compiler.compile({ "reconciler.ts": "const a = 1;\nexport default { reconcile() { return {}; } };\n" })),
      ChakratorCode.NotAReconciler,
    );
    assert.deepEqual([notReconciler.line, notReconciler.column], [2, 1]);
    assert.match(notReconciler.message, /Property 'for' is missing/);
  });

  it("checks every .ts module and sorts diagnostics by file and line", () => {
    const r = compiler.compile({
      "reconciler.ts": `${MINIMAL}const b: number = "x";\nconst a: number = "y";\n`,
      "a.ts": `export const z: boolean = 1;\n`,
    });
    assert.deepEqual(
      errors(r).map((d) => `${d.file}:${d.line}`),
      ["a.ts:1", "reconciler.ts:3", "reconciler.ts:4"],
    );
  });
});

describe("ReconcilerCompiler.compile: hash", () => {
  it("is stable across key order and non-.ts keys, and changes with content", () => {
    const a = compiler.compile({ "reconciler.ts": MINIMAL, "lib.ts": "export const a = 1;\n" });
    const b = compiler.compile({ "README.md": "docs", "lib.ts": "export const a = 1;\n", "reconciler.ts": MINIMAL });
    const crlf = compiler.compile({ "lib.ts": "export const a = 1;\r\n", "reconciler.ts": MINIMAL.replace(/\n/g, "\r\n") });
    const c = compiler.compile({ "reconciler.ts": MINIMAL, "lib.ts": "export const a = 2;\n" });
    assert.match(a.hash, /^[0-9a-f]{64}$/);
    assert.equal(a.hash, b.hash);
    assert.equal(a.hash, crlf.hash);
    assert.notEqual(a.hash, c.hash);
    const bad = compiler.compile({ "reconciler.ts": "const = ;" });
    assert.equal(bad.ok, false);
    assert.match(bad.hash, /^[0-9a-f]{64}$/);
  });
});

describe("ReconcilerCompiler.compile: guard rails", () => {
  it("never throws on junk and stays usable afterwards", () => {
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const junk = Array.from({ length: 4 }, () =>
      String.fromCharCode(...Array.from({ length: 3000 }, () => Math.floor(rand() * 0x10000))),
    );
    const inputs: unknown[] = [
      ...junk.map((text) => ({ "reconciler.ts": text })),
      { "reconciler.ts": "const s = `unterminated ${ 1 + " },
      { "reconciler.ts": "const s = 'unterminated" },
      { "reconciler.ts": `${"(".repeat(10_000)}1${")".repeat(10_000)}` },
      { "reconciler.ts": `export default ${"[".repeat(10_000)}` },
      { "reconciler.ts": 42 },
      null,
      "reconciler.ts",
      [MINIMAL],
      new Proxy({}, { ownKeys: () => { throw new Error("hostile"); } }),
    ];
    for (const input of inputs) {
      const r = compiler.compile(input as Record<string, string>);
      assert.equal(r.ok, false);
      assert.ok(r.diagnostics.some((d) => d.severity === "error"));
      assert.match(r.hash, /^[0-9a-f]{64}$/);
    }
    ok(compiler.compile({ "reconciler.ts": SEED }));
  });

  it("rejects sources over the size cap without parsing them", () => {
    const big = compiler.compile({ "reconciler.ts": `${MINIMAL}//${"x".repeat(1024 * 1024)}` });
    const d = only(errors(big), ChakratorCode.SourceTooLarge);
    assert.equal(d.file, "");
    const small = new ReconcilerCompiler({ maxSourceBytes: 100 });
    only(errors(small.compile({ "reconciler.ts": MINIMAL })), ChakratorCode.SourceTooLarge);
  });
});

describe("formatDiagnostics", () => {
  it("prints one short line per diagnostic, capped at max", () => {
    const d: Diagnostic[] = [
      { file: "reconciler.ts", line: 1, column: 2, message: "First\n  Second", code: 2322, severity: "error" },
      { file: "", line: 1, column: 1, message: "Too big.", code: ChakratorCode.SourceTooLarge, severity: "error" },
      { file: "lib.ts", line: 3, column: 4, message: "Empty.", code: 99002, severity: "warning" },
    ];
    assert.equal(
      formatDiagnostics(d),
      "reconciler.ts:1:2 error TS2322: First Second\nerror CHK99003: Too big.\nlib.ts:3:4 warning CHK99002: Empty.",
    );
    assert.equal(formatDiagnostics(d, 1), "reconciler.ts:1:2 error TS2322: First Second\n… and 2 more");
    assert.equal(formatDiagnostics([]), "");
  });
});

describe("resolveImport", () => {
  it("maps relative specifiers to ConfigMap keys and nothing else", () => {
    const keys = new Set(["reconciler.ts", "lib.ts"]);
    assert.equal(resolveImport("./lib.ts", "reconciler.ts", keys), "lib.ts");
    assert.equal(resolveImport("./lib", "reconciler.ts", keys), "lib.ts");
    assert.equal(resolveImport("./sub/../lib.ts", "reconciler.ts", keys), "lib.ts");
    assert.equal(resolveImport("../lib.ts", "reconciler.ts", keys), undefined);
    assert.equal(resolveImport("lib.ts", "reconciler.ts", keys), undefined);
    assert.equal(resolveImport("./missing.ts", "reconciler.ts", keys), undefined);
  });
});

describe("one resolution rule for validate and load", () => {
  it("agrees with the sandbox's module linker on every import form", async () => {
    const { Sandbox } = await import("../sandbox/index.ts");
    const sandbox = await Sandbox.start({ maxTimeoutMs: 10_000, maxMemoryMb: 64 });
    try {
      const forms = [
        "./lib.ts", "./lib", "./sub/../lib.ts", "././lib", "../lib.ts", "./lib.js", "./lib.d.ts", "./Lib.ts",
        "lib.ts", "lib", "/lib.ts", "node:fs", "lodash", "./missing", ".//lib.ts", "./lib.ts/",
      ];
      const table: string[] = [];
      for (const [i, spec] of forms.entries()) {
        const files = {
          "reconciler.ts": `import { greet } from ${JSON.stringify(spec)};\nimport type { Reconciler } from "chakrator";\nexport default { for: { apiVersion: "v1", kind: "X" }, reconcile() { return { status: { m: greet() } }; } } satisfies Reconciler;\n`,
          "lib.ts": `export function greet(): string { return "hi"; }\n`,
        };
        const compiled = compiler.compile(files);
        let loaded = false;
        if (compiled.ok) {
          await sandbox.load({ id: `form-${i}`, entry: "reconciler.ts", modules: compiled.modules });
          loaded = true;
        } else {
          // The emit of an unchecked source, linked as the sandbox would link it.
          const ts = (await import("typescript")).default;
          const modules = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, ts.transpileModule(v, { compilerOptions: { target: ts.ScriptTarget.ES2024, module: ts.ModuleKind.ESNext } }).outputText]));
          loaded = await sandbox.load({ id: `form-${i}`, entry: "reconciler.ts", modules }).then(() => true, () => false);
        }
        table.push(`${spec}: validate ${compiled.ok ? "ok" : "refused"}, load ${loaded ? "ok" : "refused"}`);
        assert.equal(loaded, compiled.ok, `${spec}: validate and load disagree`);
      }
      // The rule itself: with or without ".ts", relative, inside the source.
      const accepted = table.filter((row) => row.includes("validate ok")).map((row) => row.split(":")[0]);
      assert.deepEqual(accepted, ["./lib.ts", "./lib", "./sub/../lib.ts", "././lib", ".//lib.ts"]);
    } finally {
      await sandbox.close();
    }
  });
});
