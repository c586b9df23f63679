/**
 * The compile step: a reconciler ConfigMap's `.ts` keys → type-checked ESM modules.
 *
 * Design: one warm {@link ReconcilerCompiler} per operator. Each compile builds a
 * TypeScript program over an in-memory host (see compile-host.ts) holding the user's
 * modules, the shipped `chakrator` typings and the ES2024 lib (no DOM, no Node
 * types: the sandbox has neither). Lib and typings SourceFiles are parsed and bound
 * once, unchanged user modules are reused, and the previous program is passed as
 * `oldProgram`, so a warm edit only re-parses what changed and re-checks the user's
 * files. On top of TypeScript's diagnostics it enforces the import rules
 * (compile-imports.ts) and that `reconciler.ts` default-exports a `Reconciler`,
 * checked by a synthetic module assigning it to `Reconciler<any>`.
 *
 * Kind typings (source/kinds.ts) arrive with {@link ReconcilerCompiler.setKinds}: one
 * `.d.ts` per group-version, parsed once per schema version, visible as
 * "chakrator/<apiVersion>". Each compile reads `for` and `owns` from the entry's
 * syntax tree and adds a small augmentation (kinds-in-use.ts), so the resource and
 * the children are typed by their cluster schemas without any annotation.
 *
 * Guarantees: `compile` never throws, whatever the input (junk, 10k nested parens,
 * huge sources): every failure, including the compiler's own, is a `CompileResult`
 * with diagnostics, and after an internal failure the caches are dropped so a
 * half-built state is never reused. Emitted modules keep their relative import
 * specifiers as written; type-only imports are erased. Errors reject the source;
 * warnings never do. `compile` is synchronous and CPU-bound (tens of ms warm).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { ChakratorCode, diagnosticAt, fromTsDiagnostic, sortDiagnostics } from "./compile-diagnostics.ts";
import type { Diagnostic } from "./compile-diagnostics.ts";
import { CHECK_PATH, KINDS_IN_USE_PATH, LIB_FILE, ReconcilerHost, SRC_DIR, keyOfPath } from "./compile-host.ts";
import { checkModuleRules } from "./compile-imports.ts";
import { DEFAULT_MAX_SOURCE_BYTES, ENTRY, hashModules, normalizeSource } from "./compile-input.ts";
import type { NormalizedSource } from "./compile-input.ts";
import { applyInsertions, declaredKinds, kindsInUseText, mapColumn, returnTypeInsertions } from "./kinds-in-use.ts";
import type { Insertion } from "./kinds-in-use.ts";
import type { KindModule } from "./kinds.ts";
import { ReconcilerLanguageService } from "./language-service.ts";

export { ChakratorCode, formatDiagnostics } from "./compile-diagnostics.ts";
export type { Diagnostic } from "./compile-diagnostics.ts";
export { resolveImport } from "./compile-imports.ts";
export { DEFAULT_MAX_SOURCE_BYTES, ENTRY } from "./compile-input.ts";
export type { KindModule } from "./kinds.ts";
export type { CompletionsAnswer, DefinitionAnswer, FormatEdit, QuickInfoAnswer, SignatureAnswer } from "./language-service.ts";

/** A language service request (see language-service.ts); `pos` is a UTF-16 offset in `file`. */
export type LanguageRequest =
  | { op: "completions" | "quickinfo" | "signature" | "definition"; files: Record<string, string>; file: string; pos: number }
  | { op: "format"; files: Record<string, string>; file: string };

/** Its answer, or why there is none. */
export type LanguageAnswer = { ok: true; answer: unknown } | { ok: false; error: string };

/** A source that type-checks: its modules as ESM JavaScript, keyed like the ConfigMap. */
export interface CompileSuccess {
  ok: true;
  /** ConfigMap key → ESM JavaScript; import specifiers as the user wrote them. */
  modules: Record<string, string>;
  entry: typeof ENTRY;
  /** sha256 hex of the normalized `.ts` keys, independent of key order. */
  hash: string;
  /** Warnings only. */
  diagnostics: Diagnostic[];
}

/** A rejected source: at least one diagnostic is an error. */
export interface CompileFailure {
  ok: false;
  hash: string;
  /** Sorted by file, line, column; errors and warnings. */
  diagnostics: Diagnostic[];
}

/** The outcome of {@link ReconcilerCompiler.compile}. */
export type CompileResult = CompileSuccess | CompileFailure;

/** Tunables of a {@link ReconcilerCompiler}. */
export interface CompilerOptions {
  /** Cap on the total bytes of the `.ts` keys; default 1 MiB. */
  maxSourceBytes?: number;
  /** Path of the typings served as "chakrator"; default `operator/types/chakrator.d.ts`. */
  typingsPath?: string;
}

/** The compiler could not be set up (the typings are unreadable): a deployment fault. */
export class CompilerSetupError extends Error {
  override readonly name = "CompilerSetupError";
}

const DEFAULT_TYPINGS = fileURLToPath(new URL("../../types/chakrator.d.ts", import.meta.url));

/** Options of the type-check. Friendly but strict: `strict`, no unused-code errors. */
const CHECK_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2024,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  lib: [LIB_FILE],
  types: [],
  strict: true,
  noFallthroughCasesInSwitch: true,
  isolatedModules: true, // each module is emitted alone, so catch what that cannot do
  allowImportingTsExtensions: true,
  noEmit: true,
  skipLibCheck: true,
};

/** Options of the per-module emit. Modern V8 runs ES2024 as is. */
const EMIT_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2024,
  module: ts.ModuleKind.ESNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  newLine: ts.NewLineKind.LineFeed,
};

/** The synthetic module proving the entry's default export is a Reconciler. */
const CHECK_TEXT = `import type { Reconciler } from "chakrator";
import reconciler from "./${ENTRY}";
const check: Reconciler<any> = reconciler;
export { check };
`;

/** TypeScript codes that only restate an import problem the rules already explained. */
const RESTATED_IMPORT_CODES = new Set([1202, 1323, 1324, 2307, 2580, 2591, 2792, 2834, 2835, 5097, 7016]);

/**
 * A warm, reusable compiler of reconciler sources. Keep one for the operator's
 * lifetime; calls are synchronous and must not interleave (they cannot, in one thread).
 */
export class ReconcilerCompiler {
  private readonly host: ReconcilerHost;
  private readonly maxSourceBytes: number;
  private lastProgram: ts.Program | undefined;
  private served: string[] = [];
  private languageService: ReconcilerLanguageService | undefined;

  /** Reads the typings once. Throws {@link CompilerSetupError} if they are unreadable. */
  constructor(options: CompilerOptions = {}) {
    const path = options.typingsPath ?? DEFAULT_TYPINGS;
    let typings: string;
    try {
      typings = readFileSync(path, "utf8");
    } catch (error: unknown) {
      throw new CompilerSetupError(`cannot read the reconciler typings at ${path}`, { cause: error });
    }
    this.host = new ReconcilerHost(typings);
    this.maxSourceBytes = options.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES;
  }

  /**
   * Answers a language service request over the same typings and kind modules as
   * `compile` (language-service.ts). Never throws.
   */
  language(req: LanguageRequest): LanguageAnswer {
    try {
      if (typeof req !== "object" || req === null || typeof req.file !== "string" || typeof req.files !== "object" || req.files === null) {
        return { ok: false, error: "a language request needs files and file" };
      }
      if (!Object.hasOwn(req.files, req.file)) return { ok: false, error: `no file "${req.file}" in the source` };
      this.languageService ??= new ReconcilerLanguageService(this.host, CHECK_OPTIONS);
      const ls = this.languageService;
      if (req.op === "format") return { ok: true, answer: ls.format(req.files, req.file) };
      if (typeof req.pos !== "number" || !Number.isInteger(req.pos) || req.pos < 0) return { ok: false, error: "pos must be a non-negative integer" };
      const pos = Math.min(req.pos, req.files[req.file]?.length ?? 0);
      switch (req.op) {
        case "completions":
          return { ok: true, answer: ls.completions(req.files, req.file, pos) };
        case "quickinfo":
          return { ok: true, answer: ls.quickInfo(req.files, req.file, pos) ?? null };
        case "signature":
          return { ok: true, answer: ls.signatureHelp(req.files, req.file, pos) ?? null };
        case "definition":
          return { ok: true, answer: ls.definition(req.files, req.file, pos) };
        default:
          return { ok: false, error: `unknown language request "${String((req as { op?: unknown }).op)}"` };
      }
    } catch (error: unknown) {
      this.languageService = undefined; // never reuse a service that failed mid-way
      return { ok: false, error: `the language service failed: ${describe(error)}` };
    }
  }

  /**
   * Adds (or updates) kind typings modules, and records every apiVersion the cluster
   * serves (for the message about an import of one it does not).
   */
  setKinds(modules: readonly KindModule[], served?: readonly string[]): void {
    this.host.setKinds(modules);
    if (served !== undefined) this.served = [...served];
  }

  /** The apiVersions with kind typings, and what versions of them. */
  kindVersions(): Record<string, string> {
    return Object.fromEntries([...this.host.kindModules].map(([k, m]) => [k, m.version]));
  }

  /**
   * Type-checks and transpiles a ConfigMap's data (`.ts` keys only; `reconciler.ts`
   * is the entry). Returns `ok: true` with ESM modules when there is no error, else
   * `ok: false` with diagnostics. Never throws.
   */
  compile(files: Readonly<Record<string, string>>): CompileResult {
    let source: NormalizedSource;
    try {
      source = normalizeSource(files, this.maxSourceBytes);
    } catch (error: unknown) {
      // Only hostile objects get here (a Proxy, a throwing getter): ConfigMap data cannot.
      const message = `The source could not be read: ${describe(error)}.`;
      const diagnostics = [diagnosticAt("", undefined, undefined, ChakratorCode.InvalidInput, message)];
      return { ok: false, hash: hashModules(new Map()), diagnostics };
    }
    if (source.diagnostics.some((d) => d.severity === "error")) {
      return { ok: false, hash: source.hash, diagnostics: sortDiagnostics(source.diagnostics) };
    }
    try {
      const diagnostics = [...source.diagnostics, ...this.check(source.modules)];
      const sorted = sortDiagnostics(diagnostics);
      if (sorted.some((d) => d.severity === "error")) return { ok: false, hash: source.hash, diagnostics: sorted };
      return { ok: true, modules: emit(source.modules), entry: ENTRY, hash: source.hash, diagnostics: sorted };
    } catch (error: unknown) {
      // A compiler crash (in practice a stack overflow on absurd nesting) may leave
      // SourceFiles half-bound: drop every cache rather than reuse that state.
      this.host.reset();
      this.lastProgram = undefined;
      const detail = error instanceof RangeError ? "the code is nested too deeply" : describe(error);
      return {
        ok: false,
        hash: source.hash,
        diagnostics: [
          diagnosticAt("", undefined, undefined, ChakratorCode.CompilerFailure, `The compiler failed: ${detail}.`),
        ],
      };
    }
  }

  /** Builds the program and gathers every diagnostic about the user's modules. */
  private check(modules: ReadonlyMap<string, string>): Diagnostic[] {
    this.host.setInput(modules, CHECK_TEXT);
    const entrySf = modules.has(ENTRY) ? this.host.userSourceFile(ENTRY) : undefined;
    const catalog = new Map([...this.host.kindModules].map(([k, m]) => [k, new Set(m.kinds)]));
    const inUse = entrySf === undefined ? "export {};\n" : kindsInUseText(declaredKinds(entrySf), catalog);
    this.host.setKindsInUse(inUse);
    // Typed children: check each where it is written (see returnTypeInsertions).
    const insertions: Insertion[] = entrySf !== undefined && inUse.includes("owns:") ? returnTypeInsertions(entrySf) : [];
    if (entrySf !== undefined && insertions.length > 0) {
      this.host.setInput(new Map([...modules, [ENTRY, applyInsertions(entrySf.text, insertions)]]), CHECK_TEXT);
    }
    const rootNames = [...[...modules.keys()].map((k) => SRC_DIR + k), CHECK_PATH, KINDS_IN_USE_PATH];
    const program = ts.createProgram({
      rootNames,
      options: CHECK_OPTIONS,
      host: this.host.compilerHost,
      ...(this.lastProgram === undefined ? {} : { oldProgram: this.lastProgram }),
    });
    this.lastProgram = program;
    const keys = new Set(modules.keys());
    const ruleDiags: Diagnostic[] = [];
    const tsDiags: ts.Diagnostic[] = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
    const userFiles: ts.SourceFile[] = [];
    let entryDefaultPos: number | undefined;
    let entryFile: ts.SourceFile | undefined;
    for (const key of modules.keys()) {
      const sf = program.getSourceFile(SRC_DIR + key);
      if (sf === undefined) continue;
      userFiles.push(sf);
      const report = checkModuleRules(sf, key, keys, { modules: new Set(this.host.kindModules.keys()), served: this.served });
      ruleDiags.push(...report.diagnostics);
      if (key === ENTRY) {
        entryDefaultPos = report.defaultExportPos;
        entryFile = sf;
      }
      tsDiags.push(...program.getSyntacticDiagnostics(sf));
    }
    const hasSyntaxErrors = tsDiags.some((d) => d.category === ts.DiagnosticCategory.Error);
    // Semantic errors after a syntax error are mostly echoes of it: report the cause.
    if (!hasSyntaxErrors) for (const sf of userFiles) tsDiags.push(...program.getSemanticDiagnostics(sf));

    const restated = new Set(
      ruleDiags.filter((d) => d.code === ChakratorCode.ForbiddenImport).map((d) => `${d.file}:${d.line}:${d.column}`),
    );
    const out = [...ruleDiags];
    for (const d of tsDiags) {
      const diag = fromTsDiagnostic(d, keyOfPath);
      const where = `${diag.file}:${diag.line}:${diag.column}`;
      if (RESTATED_IMPORT_CODES.has(diag.code) && restated.has(where)) continue;
      if (d.file !== undefined && diag.file === "" && d.category !== ts.DiagnosticCategory.Error) continue;
      out.push(diag);
    }
    if (entryFile !== undefined && !hasSyntaxErrors) {
      out.push(...this.checkEntry(program, entryFile, entryDefaultPos, out));
    }
    if (entrySf === undefined || insertions.length === 0) return out;
    return out.map((d) => (d.file === ENTRY ? { ...d, column: mapColumn(entrySf, insertions, d.line, d.column) } : d));
  }

  /** Reports a missing default export, or one that is not a Reconciler. */
  private checkEntry(
    program: ts.Program,
    entry: ts.SourceFile,
    pos: number | undefined,
    found: readonly Diagnostic[],
  ): Diagnostic[] {
    if (pos === undefined) {
      const message =
        `${ENTRY} has no default export: it must end with ` +
        "`export default { for: …, reconcile(res, ctx) { … } } satisfies Reconciler<MyResource>;` " +
        '(import type { Reconciler } from "chakrator").';
      return [diagnosticAt(ENTRY, entry, entry.getEnd(), ChakratorCode.NotAReconciler, message)];
    }
    // The entry's own errors usually explain a failed assignment better: show those alone.
    if (found.some((d) => d.file === ENTRY && d.severity === "error")) return [];
    const check = program.getSourceFile(CHECK_PATH);
    if (check === undefined) return [];
    return program.getSemanticDiagnostics(check).map((d) => {
      const cause = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      const message = `The default export is not a Reconciler (tip: add \`satisfies Reconciler<MyResource>\`): ${cause}`;
      return diagnosticAt(ENTRY, entry, pos, ChakratorCode.NotAReconciler, message);
    });
  }
}

/** Transpiles each module alone to ESM; type-only imports vanish, specifiers stay. */
function emit(modules: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, text] of modules) {
    const emitted = ts.transpileModule(text, { compilerOptions: EMIT_OPTIONS, fileName: key, reportDiagnostics: false });
    out[key] = emitted.outputText;
  }
  return out;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
