/**
 * From a reconciler's own `for` and `owns` to the typing of its resource and children:
 * the text of a module augmentation of "chakrator" (see `KindsInUse` in
 * operator/types/chakrator.d.ts), one per compile, read from the syntax tree of
 * `reconciler.ts` before the program is built.
 *
 * Only literals count (`for: { apiVersion: "apps/v1", kind: "Deployment" }`): the kinds
 * are known before type-checking, from the source as written. `owns` is typed only when
 * every entry is a literal; a kind the cluster has no schema for becomes an
 * `UntypedChild<apiVersion, kind>` (its name checked, its fields free). Anything else
 * (computed kinds, no `owns`) leaves the augmentation empty: children stay `LooseChild`.
 * Runs in the compiler process (it needs TypeScript's parser).
 */
import ts from "typescript";

/** A kind named by a literal in the source. */
export interface KindName {
  apiVersion: string;
  kind: string;
}

/** What a module of kind typings offers: apiVersion → its kinds. */
export type KindCatalog = ReadonlyMap<string, ReadonlySet<string>>;

/** The `for` and `owns` literals of the entry's default export, as far as they are literals. */
export function declaredKinds(entry: ts.SourceFile): { for: KindName | undefined; owns: KindName[] | undefined } {
  const obj = defaultExportObject(entry);
  if (obj === undefined) return { for: undefined, owns: undefined };
  let forKind: KindName | undefined;
  let owns: KindName[] | undefined;
  for (const p of obj.properties) {
    if (!ts.isPropertyAssignment(p)) continue;
    const name = ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) ? p.name.text : undefined;
    if (name === "for") forKind = kindLiteral(p.initializer, entry);
    if (name === "owns") {
      const init = unwrap(p.initializer);
      if (!ts.isArrayLiteralExpression(init)) continue;
      const kinds = init.elements.map((el) => kindLiteral(el, entry));
      owns = kinds.every((k) => k !== undefined) ? (kinds as KindName[]) : undefined;
    }
  }
  return { for: forKind, owns };
}

/** The augmentation text for `declared` given the available typings (`catalog`). */
export function kindsInUseText(declared: { for: KindName | undefined; owns: KindName[] | undefined }, catalog: KindCatalog): string {
  const typeOf = (k: KindName): string | undefined =>
    catalog.get(k.apiVersion)?.has(k.kind) === true && /^[A-Za-z_$][\w$]*$/.test(k.kind) ? `import("chakrator/${k.apiVersion}").${k.kind}` : undefined;
  const members: string[] = [];
  const forType = declared.for && typeOf(declared.for);
  if (forType !== undefined) members.push(`    for: ${forType};`);
  if (declared.owns !== undefined && declared.owns.length > 0) {
    const parts = declared.owns.map((k) => typeOf(k) ?? `import("chakrator").UntypedChild<${JSON.stringify(k.apiVersion)}, ${JSON.stringify(k.kind)}>`);
    // Only worth it when at least one owned kind has a schema.
    if (declared.owns.some((k) => typeOf(k) !== undefined)) members.push(`    owns: ${[...new Set(parts)].join(" | ")};`);
  }
  if (members.length === 0) return "export {};\n";
  return `export {};\ndeclare module "chakrator" {\n  interface KindsInUse {\n${members.join("\n")}\n  }\n}\n`;
}

function unwrap(e: ts.Expression): ts.Expression {
  for (;;) {
    if (ts.isParenthesizedExpression(e) || ts.isSatisfiesExpression(e) || ts.isAsExpression(e) || ts.isTypeAssertionExpression(e)) e = e.expression;
    else return e;
  }
}

function text(e: ts.Expression | undefined): string | undefined {
  if (e === undefined) return undefined;
  const u = unwrap(e);
  return ts.isStringLiteral(u) || ts.isNoSubstitutionTemplateLiteral(u) ? u.text : undefined;
}

function kindLiteral(e: ts.Expression, sf: ts.SourceFile): KindName | undefined {
  let u = unwrap(e);
  if (ts.isIdentifier(u)) u = constInitializer(sf, u.text) ?? u; // `const deploymentKind = { … }`
  if (!ts.isObjectLiteralExpression(u)) return undefined;
  let apiVersion: string | undefined;
  let kind: string | undefined;
  for (const p of u.properties) {
    if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) continue;
    if (p.name.text === "apiVersion") apiVersion = text(p.initializer);
    if (p.name.text === "kind") kind = text(p.initializer);
  }
  return apiVersion !== undefined && kind !== undefined ? { apiVersion, kind } : undefined;
}

/** The initializer of a top-level `const name = …`, unwrapped. */
function constInitializer(sf: ts.SourceFile, name: string): ts.Expression | undefined {
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st) || (st.declarationList.flags & ts.NodeFlags.Const) === 0) continue;
    for (const d of st.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer !== undefined) return unwrap(d.initializer);
    }
  }
  return undefined;
}

/** The object literal a module default-exports, directly or through one `const`. */
function defaultExportObject(sf: ts.SourceFile): ts.ObjectLiteralExpression | undefined {
  let expr: ts.Expression | undefined;
  for (const st of sf.statements) if (ts.isExportAssignment(st) && !st.isExportEquals) expr = st.expression;
  if (expr === undefined) return undefined;
  let u = unwrap(expr);
  if (ts.isIdentifier(u)) u = constInitializer(sf, u.text) ?? u;
  return ts.isObjectLiteralExpression(u) ? u : undefined;
}

/** Text inserted into the checked copy of the entry: a return type, at `pos`. */
export interface Insertion {
  pos: number;
  text: string;
}

/**
 * Return types for `reconcile` and `finalize` of the default export when they have
 * none, so TypeScript checks each returned child where it is written (a misspelt
 * field is reported at its own line and column) rather than once at the method.
 * The inserted text holds no line break, so only columns after it on its line move;
 * {@link mapColumn} moves them back. The emitted code is made from the original text.
 */
export function returnTypeInsertions(entry: ts.SourceFile): Insertion[] {
  const obj = defaultExportObject(entry);
  if (obj === undefined) return [];
  const out: Insertion[] = [];
  const RESULT: Record<string, string> = { reconcile: 'import("chakrator").ReconcileResult', finalize: 'import("chakrator").FinalizeResult' };
  for (const p of obj.properties) {
    const name = p.name !== undefined && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
    const result = name === undefined ? undefined : RESULT[name];
    if (result === undefined) continue;
    let fn: ts.MethodDeclaration | ts.ArrowFunction | ts.FunctionExpression | undefined;
    if (ts.isMethodDeclaration(p)) fn = p;
    else if (ts.isPropertyAssignment(p)) {
      const init = unwrap(p.initializer);
      if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) fn = init;
    }
    if (fn === undefined || fn.type !== undefined || fn.asteriskToken !== undefined) continue;
    const close = skipTrivia(entry.text, fn.parameters.end);
    if (entry.text.charAt(close) !== ")") continue; // `res => …` without parentheses
    const isAsync = (ts.getModifiers(fn) ?? []).some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
    out.push({ pos: close + 1, text: isAsync ? `: Promise<${result}>` : `: ${result} | Promise<${result}>` });
  }
  return out.sort((a, b) => a.pos - b.pos);
}

/** Applies `insertions` (sorted by position) to `text`. */
export function applyInsertions(text: string, insertions: readonly Insertion[]): string {
  let out = "";
  let at = 0;
  for (const i of insertions) {
    out += text.slice(at, i.pos) + i.text;
    at = i.pos;
  }
  return out + text.slice(at);
}

/**
 * The 1-based column in the original text of a diagnostic at `line`:`column` of the
 * text with `insertions` applied (positions inside an insertion go to its start).
 */
export function mapColumn(original: ts.SourceFile, insertions: readonly Insertion[], line: number, column: number): number {
  let shift = 0;
  for (const i of insertions) {
    const at = original.getLineAndCharacterOfPosition(i.pos);
    if (at.line + 1 !== line) continue;
    const start = at.character + 1 + shift; // where the insertion begins, in the checked text
    if (column >= start + i.text.length) shift += i.text.length;
    else if (column > start) return at.character + 1;
  }
  return column - shift;
}

/** The first position at or after `pos` that is not whitespace, a comment or a comma. */
function skipTrivia(text: string, pos: number): number {
  let i = pos;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === ",") i++;
    else if (text.startsWith("//", i)) i = text.indexOf("\n", i) === -1 ? text.length : text.indexOf("\n", i);
    else if (text.startsWith("/*", i)) i = text.indexOf("*/", i + 2) === -1 ? text.length : text.indexOf("*/", i + 2) + 2;
    else break;
  }
  return i;
}
