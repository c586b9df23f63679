/**
 * The in-memory CompilerHost behind {@link ReconcilerCompiler}: a closed world with
 * no access to the disk except TypeScript's own ES lib files.
 *
 * Layout of the virtual file system:
 *   /src/<key>                 the ConfigMap's `.ts` keys (the user's modules)
 *   /chakrator/chakrator.d.ts  the shipped typings, visible as module "chakrator"
 *   /chakrator/check.ts        a synthetic module asserting the entry is a Reconciler
 *   /chakrator/kinds/<apiVersion>.d.ts  kind typings from the cluster's OpenAPI, visible
 *                              as module "chakrator/<apiVersion>" (source/kinds.ts)
 *   /chakrator/kinds-in-use.d.ts  this compile's augmentation typing `for` and `owns`
 *   <typescript>/lib/lib.es*   ES lib files (read-only, from the installed compiler)
 *
 * Warmth: lib files and the typings are parsed once and their SourceFiles kept for
 * the host's lifetime (they are also bound once, the binder's result lives on the
 * SourceFile). User SourceFiles are kept in a small LRU keyed by name and text, so
 * an unchanged module of an edited source is neither re-parsed nor re-bound.
 * Kind typings are static too, re-parsed only when their schema's version changes.
 * Module resolution never touches the disk: it is {@link resolveImport} plus the
 * names "chakrator" and "chakrator/<apiVersion>".
 */
import { readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import ts from "typescript";
import { TYPINGS_MODULE, resolveImport } from "./compile-imports.ts";
import type { KindModule } from "./kinds.ts";

/** Folder of the user's modules in the virtual file system. */
export const SRC_DIR = "/src/";
/** Virtual path of the shipped typings. */
export const TYPINGS_PATH = "/chakrator/chakrator.d.ts";
/** Virtual path of the synthetic default-export check. */
export const CHECK_PATH = "/chakrator/check.ts";
/** Folder of the kind typings: `<KINDS_DIR><apiVersion>.d.ts`. */
export const KINDS_DIR = "/chakrator/kinds/";
/** Virtual path of the per-compile `KindsInUse` augmentation. */
export const KINDS_IN_USE_PATH = "/chakrator/kinds-in-use.d.ts";
/** The lib the sandbox actually provides: ECMAScript built-ins, nothing else. */
export const LIB_FILE = "lib.es2024.d.ts";

/** Folder of TypeScript's bundled lib files. */
const LIB_DIR = dirname(ts.getDefaultLibFilePath({}));
/** Lib files the host will serve: ES and decorator libs only (no DOM, no webworker). */
const SERVABLE_LIB = /^lib\.(es[0-9a-z.]*|decorators(\.legacy)?)\.d\.ts$/;
/** User SourceFiles kept across compiles; enough for many reconcilers' modules. */
const USER_CACHE_LIMIT = 128;

/** The ConfigMap key of a virtual path, or `""` if it is not a user module. */
export function keyOfPath(fileName: string): string {
  return fileName.startsWith(SRC_DIR) ? fileName.slice(SRC_DIR.length) : "";
}

/** A host plus the per-compile input it serves. One per {@link ReconcilerCompiler}. */
export class ReconcilerHost {
  /** Lib files and typings, parsed once. */
  private readonly staticFiles = new Map<string, ts.SourceFile>();
  /** User SourceFiles by `path\0text`, most recently used last. */
  private readonly userFiles = new Map<string, ts.SourceFile>();
  private readonly typingsText: string;
  private sources = new Map<string, string>();
  private keys: ReadonlySet<string> = new Set();
  private checkText = "";
  private kindsInUseText = "export {};\n";
  /** apiVersion → generated module. */
  private readonly kinds = new Map<string, KindModule>();

  /** `typingsText` is the content of the shipped `chakrator.d.ts`. */
  constructor(typingsText: string) {
    this.typingsText = typingsText;
  }

  /** Sets the modules (ConfigMap key → text) and entry-check text of the next program. */
  setInput(sources: ReadonlyMap<string, string>, checkText: string): void {
    this.sources = new Map([...sources].map(([k, v]) => [SRC_DIR + k, v]));
    this.keys = new Set(sources.keys());
    this.checkText = checkText;
  }

  /** Adds or replaces kind typings modules; a changed one is re-parsed on next use. */
  setKinds(modules: readonly KindModule[]): void {
    for (const m of modules) {
      const old = this.kinds.get(m.apiVersion);
      if (old !== undefined && old.version === m.version && old.text === m.text) continue;
      this.kinds.set(m.apiVersion, m);
      this.staticFiles.delete(KINDS_DIR + m.apiVersion + ".d.ts");
    }
  }

  /** The kind typings by apiVersion. */
  get kindModules(): ReadonlyMap<string, KindModule> {
    return this.kinds;
  }

  /** Sets the text of this compile's `KindsInUse` augmentation. */
  setKindsInUse(text: string): void {
    this.kindsInUseText = text;
  }

  /** A user module's SourceFile (cached as the program would get it), for a look before the program. */
  userSourceFile(key: string): ts.SourceFile | undefined {
    return this.getSourceFile(SRC_DIR + key, ts.ScriptTarget.ES2024);
  }

  /** Forgets every cached SourceFile; used after the compiler failed mid-way. */
  reset(): void {
    this.staticFiles.clear();
    this.userFiles.clear();
  }

  /** The CompilerHost TypeScript sees. */
  readonly compilerHost: ts.CompilerHost = {
    getSourceFile: (fileName, languageVersion) => this.getSourceFile(fileName, languageVersion),
    getDefaultLibFileName: () => `${LIB_DIR}/${LIB_FILE}`,
    getDefaultLibLocation: () => LIB_DIR,
    writeFile: () => {},
    getCurrentDirectory: () => "/",
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (f) => this.readText(f) !== undefined,
    readFile: (f) => this.readText(f),
    directoryExists: (d) => d === "/" || d === "/src" || d === "/chakrator" || d === LIB_DIR || `${d}/`.startsWith(KINDS_DIR),
    getDirectories: () => [],
    realpath: (p) => p,
    resolveModuleNameLiterals: (literals, containingFile) =>
      literals.map((lit) => ({ resolvedModule: this.resolve(lit.text, containingFile) })),
    resolveTypeReferenceDirectiveReferences: (refs) => refs.map(() => ({ resolvedTypeReferenceDirective: undefined })),
  };

  private resolve(specifier: string, containingFile: string): ts.ResolvedModuleFull | undefined {
    if (specifier === TYPINGS_MODULE) {
      return { resolvedFileName: TYPINGS_PATH, extension: ts.Extension.Dts, isExternalLibraryImport: false };
    }
    if (specifier.startsWith(`${TYPINGS_MODULE}/`)) {
      const apiVersion = specifier.slice(TYPINGS_MODULE.length + 1);
      return this.kinds.has(apiVersion)
        ? { resolvedFileName: `${KINDS_DIR}${apiVersion}.d.ts`, extension: ts.Extension.Dts, isExternalLibraryImport: false }
        : undefined;
    }
    const importer = containingFile === CHECK_PATH ? "" : keyOfPath(containingFile);
    if (containingFile !== CHECK_PATH && importer === "") return undefined;
    const key = resolveImport(specifier, importer === "" ? "check.ts" : importer, this.keys);
    return key === undefined
      ? undefined
      : { resolvedFileName: SRC_DIR + key, extension: ts.Extension.Ts, isExternalLibraryImport: false };
  }

  /** The text of any virtual file (user module, typings, lib), or undefined. */
  readText(fileName: string): string | undefined {
    const user = this.sources.get(fileName);
    if (user !== undefined) return user;
    if (fileName === CHECK_PATH) return this.checkText;
    if (fileName === TYPINGS_PATH) return this.typingsText;
    if (fileName === KINDS_IN_USE_PATH) return this.kindsInUseText;
    if (fileName.startsWith(KINDS_DIR) && fileName.endsWith(".d.ts")) return this.kinds.get(fileName.slice(KINDS_DIR.length, -".d.ts".length))?.text;
    if (dirname(fileName) === LIB_DIR && SERVABLE_LIB.test(basename(fileName))) {
      try {
        return readFileSync(fileName, "utf8");
      } catch {
        return undefined; // an ES lib this TypeScript does not ship
      }
    }
    return undefined;
  }

  private getSourceFile(
    fileName: string,
    languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions,
  ): ts.SourceFile | undefined {
    const isStatic = fileName === TYPINGS_PATH || fileName.startsWith(`${LIB_DIR}/`) || fileName.startsWith(KINDS_DIR);
    if (isStatic) {
      const hit = this.staticFiles.get(fileName);
      if (hit !== undefined) return hit;
    }
    const text = this.readText(fileName);
    if (text === undefined) return undefined;
    if (isStatic) {
      const sf = ts.createSourceFile(fileName, text, languageVersion, false);
      this.staticFiles.set(fileName, sf);
      return sf;
    }
    const cacheKey = `${fileName}\0${text}`;
    const hit = this.userFiles.get(cacheKey);
    if (hit !== undefined) {
      this.userFiles.delete(cacheKey); // refresh its LRU position
      this.userFiles.set(cacheKey, hit);
      return hit;
    }
    const sf = ts.createSourceFile(fileName, text, languageVersion, false);
    this.userFiles.set(cacheKey, sf);
    if (this.userFiles.size > USER_CACHE_LIMIT) {
      const oldest = this.userFiles.keys().next();
      if (oldest.done !== true) this.userFiles.delete(oldest.value);
    }
    return sf;
  }
}
