/**
 * The import rules of a reconciler source, checked on the syntax tree.
 *
 * A module may import only (a) the ConfigMap's other `.ts` keys by a relative path
 * (`"./lib.ts"`, or `"./lib"`), (b) types from `"chakrator"` (`import type …`
 * or `import { type X } …`), and (c) types from `"chakrator/<apiVersion>"`, the kind
 * typings of the cluster (source/kinds.ts); both are erased: nothing named
 * "chakrator" exists in the sandbox. Everything else (`"node:fs"`, `"lodash"`, `"../x"`, `import()`,
 * `import x = require(…)`) is reported here with a message naming the specifier,
 * before TypeScript's less helpful "Cannot find module".
 *
 * {@link resolveImport} is the sandbox's resolution rule (sandbox/module-graph.ts):
 * the compiler host, these checks and the sandbox's module linker all call that one
 * function, so type-check and load cannot disagree.
 */
import ts from "typescript";
import { ChakratorCode, diagnosticAt } from "./compile-diagnostics.ts";
import type { Diagnostic } from "./compile-diagnostics.ts";
import { resolveSpecifier } from "../sandbox/module-graph.ts";

/** The module name under which the shipped typings are visible (type-only). */
export const TYPINGS_MODULE = "chakrator";

/**
 * Resolves a relative import `specifier` written in module `importer` to the
 * ConfigMap key it names (`"./lib"` and `"./lib.ts"` both give `"lib.ts"`), or
 * `undefined` if it is not relative, escapes the ConfigMap, or names no `.ts` key.
 * This is the sandbox linker's own rule ({@link resolveSpecifier}), not a copy of it.
 */
export function resolveImport(specifier: string, importer: string, keys: ReadonlySet<string>): string | undefined {
  const r = resolveSpecifier(specifier, importer, keys);
  return r.ok ? r.key : undefined;
}

/** What {@link checkModuleRules} found in one module. */
export interface ModuleRuleReport {
  diagnostics: Diagnostic[];
  /** Offset of the default export (for the entry's Reconciler check), if any. */
  defaultExportPos: number | undefined;
}

const ALLOWED =
  'only relative imports of the ConfigMap\'s other .ts keys (e.g. "./lib.ts") and type imports of "chakrator" and "chakrator/<apiVersion>" are allowed';

/** True when an import clause brings in types only. */
function isTypeOnlyClause(clause: ts.ImportClause | undefined): boolean {
  if (clause === undefined) return false; // `import "x"`: a side effect
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const nb = clause.namedBindings;
  return nb !== undefined && ts.isNamedImports(nb) && nb.elements.length > 0 && nb.elements.every((e) => e.isTypeOnly);
}

/** True when an export-from declaration re-exports types only. */
function isTypeOnlyExport(decl: ts.ExportDeclaration): boolean {
  if (decl.isTypeOnly) return true;
  const ec = decl.exportClause;
  return ec !== undefined && ts.isNamedExports(ec) && ec.elements.length > 0 && ec.elements.every((e) => e.isTypeOnly);
}

/**
 * Checks one module's imports and re-exports against the rules above and finds its
 * default export. `key` is the module's ConfigMap key, `keys` all `.ts` keys.
 * Never throws; walks the tree iteratively, so deep nesting is safe.
 */
export function checkModuleRules(
  sf: ts.SourceFile,
  key: string,
  keys: ReadonlySet<string>,
  kinds: { modules: ReadonlySet<string>; served: readonly string[] } = { modules: new Set(), served: [] },
): ModuleRuleReport {
  const diagnostics: Diagnostic[] = [];
  let defaultExportPos: number | undefined;
  const report = (node: ts.Node, code: number, message: string): void => {
    diagnostics.push(diagnosticAt(key, sf, node.getStart(sf), code, message));
  };

  const checkSpecifier = (spec: ts.Expression, typeOnly: boolean): void => {
    if (!ts.isStringLiteralLike(spec)) return; // a syntax error TypeScript reports
    const name = spec.text;
    if (name === TYPINGS_MODULE) {
      if (!typeOnly) {
        const message =
          '"chakrator" provides types only and nothing exists at run time: ' +
          'write `import type { … } from "chakrator"` (or `import { type X }`).';
        report(spec, ChakratorCode.ValueImportOfTypings, message);
      }
      return;
    }
    if (name.startsWith(`${TYPINGS_MODULE}/`)) {
      const apiVersion = name.slice(TYPINGS_MODULE.length + 1);
      if (!typeOnly) {
        const message = `"${name}" provides types only: write \`import type { … } from "${name}"\`.`;
        report(spec, ChakratorCode.ValueImportOfTypings, message);
      } else if (!kinds.modules.has(apiVersion)) {
        const served = kinds.served.length > 0 ? ` (it serves ${kinds.served.slice(0, 12).join(", ")}${kinds.served.length > 12 ? ", …" : ""})` : " (or its schemas could not be read)";
        const message = `Cannot import "${name}": the cluster serves no apiVersion "${apiVersion}"${served}; kind typings are "chakrator/<apiVersion>", e.g. "chakrator/apps/v1", "chakrator/v1".`;
        report(spec, ChakratorCode.ForbiddenImport, message);
      }
      return;
    }
    if (resolveImport(name, key, keys) !== undefined) return;
    const why =
      name.startsWith("./") || name.startsWith("../")
        ? `there is no such .ts key in this ConfigMap`
        : `packages and Node built-ins do not exist in the sandbox`;
    report(spec, ChakratorCode.ForbiddenImport, `Cannot import "${name}": ${why}; ${ALLOWED}.`);
  };

  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st)) {
      checkSpecifier(st.moduleSpecifier, isTypeOnlyClause(st.importClause));
    } else if (ts.isExportDeclaration(st)) {
      if (st.moduleSpecifier !== undefined) checkSpecifier(st.moduleSpecifier, isTypeOnlyExport(st));
      const ec = st.exportClause;
      const exportsDefault =
        ec !== undefined && ts.isNamedExports(ec) && ec.elements.some((e) => e.name.text === "default" && !e.isTypeOnly);
      if (exportsDefault) defaultExportPos ??= st.getStart(sf);
    } else if (ts.isImportEqualsDeclaration(st) && ts.isExternalModuleReference(st.moduleReference)) {
      const expr = st.moduleReference.expression;
      const what = ts.isStringLiteralLike(expr) ? `"${expr.text}"` : "a module";
      report(st, ChakratorCode.ForbiddenImport, `Cannot import ${what} with \`import … = require(…)\`; ${ALLOWED}.`);
    } else if (ts.isExportAssignment(st)) {
      if (st.isExportEquals) {
        report(st, ChakratorCode.NotAReconciler, "`export =` is not supported: use `export default`.");
      } else {
        defaultExportPos ??= st.getStart(sf);
      }
    } else if (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) {
      const mods = ts.getModifiers(st) ?? [];
      const isExport = mods.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      if (isExport && mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) defaultExportPos ??= st.getStart(sf);
    }
  }

  // Dynamic import() anywhere: the sandbox links modules statically only.
  const stack: ts.Node[] = [sf];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === undefined) break;
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const message = `Dynamic import() is not available in the sandbox: use a static import; ${ALLOWED}.`;
      report(node, ChakratorCode.ForbiddenImport, message);
    }
    ts.forEachChild(node, (child) => {
      stack.push(child);
    });
  }
  return { diagnostics, defaultExportPos };
}
