/**
 * Runs a child's TypeScript entry as plain JavaScript.
 *
 * Why: Node 24 runs `.ts` files by stripping their types with amaro, a WebAssembly
 * build of swc that costs every process that loads it about 27 MiB of RSS (a sandbox
 * host measured 78.5 MiB as `host.ts` and 51.2 MiB as stripped `.mjs`; see
 * operator/bench/noisy-neighbour.bench.ts). The operator has amaro loaded anyway, so it
 * strips the entry's module graph once (`module.stripTypeScriptTypes`, which keeps
 * line and column numbers) into a content-addressed folder under the temp dir, and
 * each child starts from there. There is still no build step: the sources are the
 * truth, and what runs is derived from them at start.
 *
 * Only static relative imports (`./x.ts`) and bare package imports are followed; the
 * latter are rewritten to the absolute URL the operator resolves, so the copy need not
 * sit beside node_modules. If anything fails (no temp dir, an older Node), the child
 * runs from the `.ts` source as before.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const SPECIFIER = /((?:^|[\s;}])(?:from|import)\s*)"([^"]+)"/g;
const built = new Map<string, string>();

/** The path to start a child from: the stripped `.mjs` of `tsPath`, or `tsPath` itself. */
export function jsEntry(tsPath: string): string {
  const cached = built.get(tsPath);
  if (cached !== undefined) return cached;
  let entry = tsPath;
  try {
    entry = build(tsPath);
  } catch {
    // Fall back to running the TypeScript source directly.
  }
  built.set(tsPath, entry);
  return entry;
}

function build(entryPath: string): string {
  const root = dirname(dirname(entryPath));
  const files = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.set(file, "");
    const code = quietly(() => stripTypeScriptTypes(readFileSync(file, "utf8"), { mode: "strip" })).replace(SPECIFIER, (match, prefix: string, spec: string) => {
      if (spec.startsWith("./") || spec.startsWith("../")) {
        const target = resolve(dirname(file), spec);
        if (!target.endsWith(".ts")) return match;
        visit(target);
        return `${prefix}"${spec.replace(/\.ts$/, ".mjs")}"`;
      }
      if (spec.startsWith("node:")) return match;
      // A bare package: resolved where the source lives, so the copy needs no node_modules.
      return `${prefix}"${import.meta.resolve(spec, pathToFileURL(file).href)}"`;
    });
    files.set(file, code);
  };
  visit(entryPath);
  const hash = createHash("sha256");
  for (const [file, code] of [...files].sort(([a], [b]) => a.localeCompare(b))) hash.update(file).update("\0").update(code).update("\0");
  const out = join(tmpdir(), `chakrator-js-${hash.digest("hex").slice(0, 16)}`);
  const entryOut = join(out, relative(root, entryPath)).replace(/\.ts$/, ".mjs");
  if (existsSync(entryOut)) return entryOut;
  // Written under a private name, then renamed: operators starting at once never see half a tree.
  const staging = `${out}.${process.pid}.${Date.now()}`;
  for (const [file, code] of files) {
    const dest = join(staging, relative(root, file)).replace(/\.ts$/, ".mjs");
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, code);
  }
  try {
    renameSync(staging, out);
  } catch {
    // Another process renamed its identical copy first.
  }
  return existsSync(entryOut) ? entryOut : join(staging, relative(root, entryPath)).replace(/\.ts$/, ".mjs");
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
