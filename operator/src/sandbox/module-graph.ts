/**
 * The one import resolution rule of a reconciler's modules, used by both paths that
 * resolve imports: the type-check (reconcilers/compile-imports.ts, via the compiler host
 * and the import rules, so `/api/validate` and the operator's check) and the sandbox's
 * module linker (isolate-slot.ts). It lives here, in the lower layer, so both can call
 * it and validate and load can never disagree.
 *
 * The rule: only relative paths (`./lib.ts`, `../shared/x.ts`) resolve, to another
 * module of the same source, and never above its root. A specifier names a key either
 * exactly (`./lib.ts`) or without its `.ts` extension (`./lib` → `lib.ts`), as
 * TypeScript's bundler resolution reads it. No bare packages, no `node:` built-ins, no
 * URLs, no other extensions (`./lib.js`, `./lib.d.ts`), no folders (`./util` does not
 * mean `./util/index.ts`). Pure; never throws.
 */

/** Result of resolving one specifier: the module key it names, or why it names none. */
export type Resolution = { ok: true; key: string } | { ok: false; message: string };

/** Resolves `specifier` imported by module `referrer` against the source's module keys. */
export function resolveSpecifier(specifier: string, referrer: string, keys: ReadonlySet<string>): Resolution {
  const notOurs = (why: string): Resolution => ({
    ok: false,
    message: `${referrer} imports "${specifier}", ${why}; only relative imports of the reconciler's own files (e.g. "./lib.ts") resolve`,
  });
  if (typeof specifier !== "string" || (!specifier.startsWith("./") && !specifier.startsWith("../"))) {
    return notOurs("which is not a module of this reconciler");
  }
  if (specifier.endsWith("/")) return notOurs("which names a folder, not a file");
  const parts = referrer.split("/").slice(0, -1);
  for (const seg of specifier.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) return notOurs("which points outside the reconciler");
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
  const path = parts.join("/");
  if (path.endsWith(".d.ts")) return notOurs("a declaration file, which has no code");
  if (path.endsWith(".ts")) return keys.has(path) ? { ok: true, key: path } : notOurs(`but there is no file "${path}" in the reconciler`);
  const withTs = `${path}.ts`;
  return keys.has(withTs) ? { ok: true, key: withTs } : notOurs(`but there is no file "${withTs}" in the reconciler`);
}
