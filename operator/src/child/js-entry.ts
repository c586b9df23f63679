/**
 * Runs TypeScript entries as plain JavaScript.
 *
 * Why: Node 24 runs `.ts` files by stripping their types with amaro, a WebAssembly
 * build of swc that costs every process that loads it about 27 MiB of RSS (a sandbox
 * host measured 78.5 MiB as `host.ts` and 51.2 MiB as stripped `.mjs`; see
 * operator/bench/noisy-neighbour.bench.ts). There is still no build step: the sources
 * are the truth, and what runs is derived from them.
 *
 * Two ways to get the JavaScript:
 * - `jsEntry(tsPath)` at run time: the operator strips the entry's module graph once
 *   (`module.stripTypeScriptTypes`, which keeps line and column numbers) into a
 *   content-addressed folder under the temp dir, and the child (sandbox host, compiler)
 *   starts from there.
 * - Ahead of time (the image does this): `node operator/src/child/js-entry.ts <out>
 *   [<entry.ts>...]` writes the graphs of the entries (default: the operator's main, the
 *   sandbox host, the compiler and the certificate issuer, `OPERATOR_ENTRIES`) into one tree under `<out>` (the
 *   repository's layout, `<out>/operator/src/main.mjs`) with a `manifest.json` of every
 *   source's hash. An operator started from that tree has no amaro at all; with
 *   `CHAKRATOR_JS_DIR=<out>`, `jsEntry` takes its children from the tree too, as long
 *   as every source of the child's graph still has the hash in the manifest (a stale
 *   tree is never run: the source wins and is stripped as above).
 *
 * In a copy, `import.meta.url`, `.dirname` and `.filename` are the original file's
 * (written in as literals), so paths built from them (the typings the compiler reads,
 * the UI's files) still point into the repository. Static relative imports (`./x.ts`)
 * are followed and pointed at the copies; static bare imports are rewritten to the URL
 * the source resolves, so a copy need not sit beside node_modules. Dynamic `import()`
 * of a package resolves from the copy's folder: the ahead-of-time tree must sit under
 * the folder that holds node_modules. If anything fails (no temp dir, an older Node),
 * the child runs from the `.ts` source as before.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const SPECIFIER = /((?:^|[\s;}])(?:from|import)\s*)"([^"]+)"/g;
const IMPORT_META = /\bimport\.meta\.(url|dirname|filename)\b/g;
/** The repository: the folder above operator/. */
const REPO = resolve(import.meta.dirname, "..", "..", "..");
const MANIFEST = "manifest.json";
/** The operator's entries: what the image builds ahead of time (see the module comment). */
export const OPERATOR_ENTRIES: readonly string[] = ["operator/src/main.ts", "operator/src/sandbox/host.ts", "operator/src/reconcilers/compile-worker.ts", "operator/src/admission/issuer.ts"].map((e) => join(REPO, e));
const built = new Map<string, string>();

/** What `<out>/manifest.json` holds: per entry, the hash of each source in its graph. */
interface Manifest {
  entries: Record<string, { out: string; sources: Record<string, string> }>;
}

/** The path to start a child from: the `.mjs` of `tsPath` (prebuilt or stripped now), or `tsPath` itself. */
export function jsEntry(tsPath: string): string {
  const cached = built.get(tsPath);
  if (cached !== undefined) return cached;
  let entry = tsPath;
  try {
    entry = prebuilt(tsPath, process.env["CHAKRATOR_JS_DIR"]) ?? build(tsPath);
  } catch {
    // Fall back to running the TypeScript source directly.
  }
  built.set(tsPath, entry);
  return entry;
}

/** The entry's copy in the ahead-of-time tree at `dir`, if its sources are unchanged. */
export function prebuilt(tsPath: string, dir: string | undefined): string | undefined {
  if (!dir) return undefined;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
  const entry = manifest.entries[relative(REPO, tsPath)];
  if (entry === undefined) return undefined;
  for (const [source, hash] of Object.entries(entry.sources)) {
    let text: string;
    try {
      text = readFileSync(join(REPO, source), "utf8");
    } catch {
      return undefined;
    }
    if (sha256(text) !== hash) return undefined;
  }
  const out = join(dir, entry.out);
  return existsSync(out) ? out : undefined;
}

/** Strips the module graph of `entryPath`: source path → JavaScript of its copy. */
function strip(entryPath: string, files = new Map<string, string>()): Map<string, string> {
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.set(file, "");
    const code = quietly(() => stripTypeScriptTypes(readFileSync(file, "utf8"), { mode: "strip" }))
      .replace(IMPORT_META, (_match, what: string) =>
        JSON.stringify(what === "url" ? pathToFileURL(file).href : what === "dirname" ? dirname(file) : file))
      .replace(SPECIFIER, (match, prefix: string, spec: string) => {
        // What looks like an import but names nothing (a module specifier inside a string,
        // such as a starter reconciler's `from "chakrator"`) is left as it is.
        if (spec.startsWith("./") || spec.startsWith("../")) {
          const target = resolve(dirname(file), spec);
          if (!target.endsWith(".ts") || !existsSync(target)) return match;
          visit(target);
          return `${prefix}"${spec.replace(/\.ts$/, ".mjs")}"`;
        }
        if (spec.startsWith("node:")) return match;
        // A bare package: resolved where the source lives, so the copy needs no node_modules.
        try {
          return `${prefix}"${import.meta.resolve(spec, pathToFileURL(file).href)}"`;
        } catch {
          return match;
        }
      });
    files.set(file, code);
  };
  visit(entryPath);
  return files;
}

/** Writes `files` (source path → code) under `out` at their place relative to `root`, atomically. */
function writeTree(files: Map<string, string>, root: string, out: string, extra: Record<string, string> = {}): void {
  // Written under a private name, then renamed: operators starting at once never see half a tree.
  const staging = `${out}.${process.pid}.${Date.now()}`;
  for (const [file, code] of files) {
    const dest = join(staging, relative(root, file)).replace(/\.ts$/, ".mjs");
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, code);
  }
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(staging, name), text);
  try {
    renameSync(staging, out);
  } catch {
    // Another process renamed its identical copy first (or `out` exists).
    if (!existsSync(out)) throw new Error(`could not write ${out}`);
    rmSync(staging, { recursive: true, force: true });
  }
}

function build(entryPath: string): string {
  const root = dirname(dirname(entryPath));
  const files = strip(entryPath);
  const hash = createHash("sha256");
  for (const [file, code] of [...files].sort(([a], [b]) => a.localeCompare(b))) hash.update(file).update("\0").update(code).update("\0");
  const out = join(tmpdir(), `chakrator-js-${hash.digest("hex").slice(0, 16)}`);
  const entryOut = join(out, relative(root, entryPath)).replace(/\.ts$/, ".mjs");
  if (!existsSync(entryOut)) writeTree(files, root, out);
  return entryOut;
}

/**
 * Writes the ahead-of-time tree of `entries` into `out` (which must not exist yet) and
 * returns the manifest. Every path is relative to the repository.
 */
export function buildTree(out: string, entries: string[]): Manifest {
  const files = new Map<string, string>();
  const manifest: Manifest = { entries: {} };
  for (const entry of entries.map((e) => resolve(e))) {
    const before = new Set(files.keys());
    const graph = strip(entry, new Map());
    const outside = [...graph.keys()].find((file) => relative(REPO, file).startsWith(".."));
    if (outside !== undefined) throw new Error(`${outside} is outside the repository (${REPO}); the tree keeps the repository's layout`);
    for (const [file, code] of graph) if (!before.has(file)) files.set(file, code);
    const sources: Record<string, string> = {};
    for (const file of [...graph.keys()].sort()) sources[relative(REPO, file)] = sha256(readFileSync(file, "utf8"));
    manifest.entries[relative(REPO, entry)] = { out: relative(REPO, entry).replace(/\.ts$/, ".mjs"), sources };
  }
  writeTree(files, REPO, resolve(out), { [MANIFEST]: `${JSON.stringify(manifest, null, 1)}\n` });
  return manifest;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Runs `action` without the one-time "stripTypeScriptTypes is experimental" warning on stderr. */
function quietly<T>(action: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (!/stripTypeScriptTypes/.test(text)) (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return action();
  } finally {
    process.emitWarning = emit;
  }
}

// `node operator/src/child/js-entry.ts <out> [<entry.ts>...]`: the ahead-of-time tree.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  const [out, ...named] = process.argv.slice(2);
  if (out === undefined) {
    console.error("usage: node operator/src/child/js-entry.ts <out> [<entry.ts>...] (default: the operator's entries)");
    process.exit(2);
  }
  const entries = named.length > 0 ? named : [...OPERATOR_ENTRIES];
  if (existsSync(out)) {
    console.error(`${out} exists; give a new folder`);
    process.exit(2);
  }
  const manifest = buildTree(out, entries);
  const sources = new Set(Object.values(manifest.entries).flatMap((e) => Object.keys(e.sources)));
  console.log(`wrote ${out}: ${Object.keys(manifest.entries).length} entries, ${sources.size} modules`);
}
