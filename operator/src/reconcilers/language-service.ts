/**
 * IntelliSense for the editor: a TypeScript LanguageService over the same closed,
 * in-memory world the compiler checks (compile-host.ts: the user's modules, the
 * `chakrator` contract, the kind typings of the cluster, the ES lib), so what it
 * offers is exactly what the type-check will accept. It runs in the compiler process
 * beside the warm compiler (compile-worker.ts) and answers one request at a time:
 * completions (with each entry's type and documentation), quick info (hover),
 * signature help, go to definition (into the ConfigMap's modules, and read-only into
 * the contract and kind typings, with the lines around it), and format document
 * (TypeScript's own formatter).
 *
 * Each request carries the editor's current files; only a changed file gets a new
 * script version, so a warm request re-checks little. Positions are UTF-16 offsets
 * into the file's text, as TypeScript and CodeMirror count them. Never throws: a
 * failure inside TypeScript is an empty answer (`error` says why).
 */
import ts from "typescript";
import { CHECK_PATH, KINDS_DIR, KINDS_IN_USE_PATH, LIB_FILE, SRC_DIR, TYPINGS_PATH, keyOfPath, type ReconcilerHost } from "./compile-host.ts";
import { normalizeText } from "./compile-input.ts";
import { declaredKinds, kindsInUseText } from "./kinds-in-use.ts";
import { isModuleKey } from "./source-keys.ts";

/** One completion: what to show, and what the type-checker knows about it. */
export interface CompletionItem {
  label: string;
  /** TypeScript's element kind: "property", "method", "function", "interface", … */
  kind: string;
  /** The type or signature (`(property) message: string`), when details were fetched. */
  detail?: string;
  documentation?: string;
  sortText: string;
  /** Text to insert when it differs from `label`. */
  insertText?: string;
  /** Optional member (`replicas?`). */
  optional?: boolean;
}

export interface CompletionsAnswer {
  /** Where the completed word starts (offset). */
  from: number;
  isMember: boolean;
  items: CompletionItem[];
}

export interface QuickInfoAnswer {
  from: number;
  to: number;
  /** The signature or type, e.g. `(method) Context.get<T>(kind: KindRef, …): Promise<T | undefined>`. */
  display: string;
  documentation: string;
  tags: Array<{ name: string; text: string }>;
}

export interface SignatureAnswer {
  items: Array<{ label: string; parameters: Array<{ label: string; documentation: string }>; documentation: string }>;
  selected: number;
  argument: number;
  /** Where the argument list starts (offset). */
  from: number;
}

export interface DefinitionAnswer {
  /** A ConfigMap key (`lib.ts`), or a typings module (`chakrator`, `chakrator/apps/v1`, `lib.es2024`). */
  file: string;
  /** True for anything but the ConfigMap's own modules. */
  readOnly: boolean;
  line: number;
  column: number;
  name: string;
  /** For read-only targets: the lines around the definition, and the first one's number. */
  preview?: { firstLine: number; text: string };
}

export interface FormatEdit {
  from: number;
  to: number;
  insert: string;
}

/** The editor's formatting settings (TypeScript's defaults otherwise; spaces, 2 wide). */
export const FORMAT_SETTINGS: ts.FormatCodeSettings = {
  indentSize: 2,
  tabSize: 2,
  convertTabsToSpaces: true,
  newLineCharacter: "\n",
  indentStyle: ts.IndentStyle.Smart,
  insertSpaceAfterCommaDelimiter: true,
  insertSpaceAfterSemicolonInForStatements: true,
  insertSpaceBeforeAndAfterBinaryOperators: true,
  insertSpaceAfterKeywordsInControlFlowStatements: true,
  insertSpaceAfterFunctionKeywordForAnonymousFunctions: true,
  insertSpaceAfterOpeningAndBeforeClosingNonemptyBraces: true,
  placeOpenBraceOnNewLineForFunctions: false,
  placeOpenBraceOnNewLineForControlBlocks: false,
  semicolons: ts.SemicolonPreference.Ignore,
  trimTrailingWhitespace: true,
};

/** Member completions get details up to this many; other lists up to DETAILS_OTHER. */
const DETAILS_MEMBER = 150;
const DETAILS_OTHER = 40;
const PREVIEW_LINES = 8;

/** The language service of one compiler process; see the module comment. */
export class ReconcilerLanguageService {
  readonly #host: ReconcilerHost;
  readonly #options: ts.CompilerOptions;
  readonly #versions = new Map<string, { text: string; version: number }>();
  #keys: string[] = [];
  readonly #service: ts.LanguageService;

  constructor(host: ReconcilerHost, options: ts.CompilerOptions) {
    this.#host = host;
    this.#options = { ...options, noEmit: true };
    const lsHost: ts.LanguageServiceHost = {
      getCompilationSettings: () => this.#options,
      getScriptFileNames: () => [...this.#keys.map((k) => SRC_DIR + k), KINDS_IN_USE_PATH],
      getScriptVersion: (f) => this.#version(f),
      getScriptSnapshot: (f) => {
        const text = this.#host.readText(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => "/",
      getDefaultLibFileName: () => this.#host.compilerHost.getDefaultLibFileName(this.#options),
      fileExists: (f) => this.#host.readText(f) !== undefined,
      readFile: (f) => this.#host.readText(f),
      directoryExists: (d) => this.#host.compilerHost.directoryExists?.(d) ?? false,
      getDirectories: () => [],
      useCaseSensitiveFileNames: () => true,
      resolveModuleNameLiterals: (literals, containingFile, redirected, options, sf, reused) =>
        this.#host.compilerHost.resolveModuleNameLiterals!(literals, containingFile, redirected, options, sf, reused),
    };
    this.#service = ts.createLanguageService(lsHost, ts.createDocumentRegistry(true, "/"));
  }

  /** A file's version: bumped when its text changes. */
  #version(fileName: string): string {
    // The lib and the contract never change; a kind module changes with its schema.
    if (fileName === TYPINGS_PATH || !fileName.startsWith("/src/") && !fileName.startsWith("/chakrator/")) return "static";
    if (fileName.startsWith(KINDS_DIR)) return `kinds:${this.#host.kindModules.get(fileName.slice(KINDS_DIR.length, -".d.ts".length))?.version ?? "none"}`;
    return String(this.#userVersion(fileName));
  }

  #userVersion(fileName: string): number {
    const text = this.#host.readText(fileName) ?? "";
    const v = this.#versions.get(fileName);
    if (v !== undefined && v.text === text) return v.version;
    const next = { text, version: (v?.version ?? 0) + 1 };
    this.#versions.set(fileName, next);
    return next.version;
  }

  /** Points the shared host at the editor's files (the module keys, normalized like a compile). */
  #load(files: Readonly<Record<string, string>>): void {
    const modules = new Map<string, string>();
    for (const [k, v] of Object.entries(files)) if (isModuleKey(k) && typeof v === "string") modules.set(k, normalizeText(v));
    this.#keys = [...modules.keys()].sort();
    this.#host.setInput(modules, "");
    const entry = modules.has("reconciler.ts") ? this.#host.userSourceFile("reconciler.ts") : undefined;
    const catalog = new Map([...this.#host.kindModules].map(([k, m]) => [k, new Set(m.kinds)]));
    this.#host.setKindsInUse(entry === undefined ? "export {};\n" : kindsInUseText(declaredKinds(entry), catalog));
  }

  completions(files: Readonly<Record<string, string>>, file: string, pos: number): CompletionsAnswer {
    this.#load(files);
    const name = SRC_DIR + file;
    const info = this.#service.getCompletionsAtPosition(name, pos, {
      includeCompletionsWithInsertText: true,
      includeCompletionsWithSnippetText: false,
      includeCompletionsForModuleExports: false,
      includeAutomaticOptionalChainCompletions: true,
    }, FORMAT_SETTINGS);
    if (info === undefined) return { from: pos, isMember: false, items: [] };
    const text = this.#host.readText(name) ?? "";
    let from = pos;
    while (from > 0 && /[\w$]/.test(text.charAt(from - 1))) from--;
    const entries = [...info.entries].sort((a, b) => (a.sortText < b.sortText ? -1 : a.sortText > b.sortText ? 1 : a.name.localeCompare(b.name)));
    const budget = info.isMemberCompletion ? DETAILS_MEMBER : DETAILS_OTHER;
    const items = entries.map((e, i): CompletionItem => {
      const item: CompletionItem = { label: e.name, kind: e.kind, sortText: e.sortText };
      if (e.insertText !== undefined && e.insertText !== e.name) item.insertText = e.insertText;
      if (e.kindModifiers?.includes("optional") === true) item.optional = true;
      if (e.replacementSpan !== undefined) from = Math.min(from, e.replacementSpan.start);
      if (i < budget) {
        const d = this.#service.getCompletionEntryDetails(name, pos, e.name, FORMAT_SETTINGS, e.source, undefined, e.data);
        if (d !== undefined) {
          item.detail = ts.displayPartsToString(d.displayParts);
          const doc = ts.displayPartsToString(d.documentation);
          if (doc !== "") item.documentation = doc;
        }
      }
      return item;
    });
    return { from, isMember: info.isMemberCompletion, items };
  }

  quickInfo(files: Readonly<Record<string, string>>, file: string, pos: number): QuickInfoAnswer | undefined {
    this.#load(files);
    const q = this.#service.getQuickInfoAtPosition(SRC_DIR + file, pos);
    if (q === undefined) return undefined;
    return {
      from: q.textSpan.start,
      to: q.textSpan.start + q.textSpan.length,
      display: ts.displayPartsToString(q.displayParts),
      documentation: ts.displayPartsToString(q.documentation),
      tags: (q.tags ?? []).map((t) => ({ name: t.name, text: ts.displayPartsToString(t.text) })),
    };
  }

  signatureHelp(files: Readonly<Record<string, string>>, file: string, pos: number): SignatureAnswer | undefined {
    this.#load(files);
    const s = this.#service.getSignatureHelpItems(SRC_DIR + file, pos, undefined);
    if (s === undefined) return undefined;
    return {
      items: s.items.map((it) => {
        const sep = ts.displayPartsToString(it.separatorDisplayParts);
        const params = it.parameters.map((p) => ({ label: ts.displayPartsToString(p.displayParts), documentation: ts.displayPartsToString(p.documentation) }));
        return {
          label: `${ts.displayPartsToString(it.prefixDisplayParts)}${params.map((p) => p.label).join(sep)}${ts.displayPartsToString(it.suffixDisplayParts)}`,
          parameters: params,
          documentation: ts.displayPartsToString(it.documentation),
        };
      }),
      selected: s.selectedItemIndex,
      argument: s.argumentIndex,
      from: s.applicableSpan.start,
    };
  }

  definition(files: Readonly<Record<string, string>>, file: string, pos: number): DefinitionAnswer[] {
    this.#load(files);
    const defs = this.#service.getDefinitionAtPosition(SRC_DIR + file, pos) ?? [];
    const out: DefinitionAnswer[] = [];
    for (const d of defs) {
      if (d.fileName === CHECK_PATH || d.fileName === KINDS_IN_USE_PATH) continue;
      const text = this.#host.readText(d.fileName);
      if (text === undefined) continue;
      const lc = lineColumn(text, d.textSpan.start);
      const key = keyOfPath(d.fileName);
      const answer: DefinitionAnswer = { file: key !== "" ? key : moduleName(d.fileName), readOnly: key === "", line: lc.line, column: lc.column, name: d.name };
      if (key === "") {
        const lines = text.split("\n");
        const first = Math.max(1, lc.line - 2);
        answer.preview = { firstLine: first, text: lines.slice(first - 1, first - 1 + PREVIEW_LINES + 2).join("\n") };
      }
      out.push(answer);
    }
    return out;
  }

  /** TypeScript's formatter over the whole file, as edits (offsets into the given text). */
  format(files: Readonly<Record<string, string>>, file: string): FormatEdit[] {
    this.#load(files);
    const edits = this.#service.getFormattingEditsForDocument(SRC_DIR + file, FORMAT_SETTINGS);
    return edits.map((e) => ({ from: e.span.start, to: e.span.start + e.span.length, insert: e.newText }));
  }
}

/** The typings module a virtual path belongs to, as a person would import it. */
function moduleName(fileName: string): string {
  if (fileName === TYPINGS_PATH) return "chakrator";
  if (fileName.startsWith(KINDS_DIR)) return `chakrator/${fileName.slice(KINDS_DIR.length, -".d.ts".length)}`;
  const base = fileName.split("/").at(-1) ?? fileName;
  return base === LIB_FILE ? "lib.es2024" : base.replace(/\.d\.ts$/, "");
}

function lineColumn(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}
