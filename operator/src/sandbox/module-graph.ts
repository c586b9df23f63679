/**
 * Import resolution of a revision's module graph. The only resolvable specifiers are
 * relative paths (`./lib.ts`, `../shared/x.ts`) naming another file of the same
 * revision, exactly as its key is spelled: no bare packages, no `node:` built-ins, no
 * URLs, no extension guessing, no escaping above the revision's root.
 */
import { posix } from "node:path";

/** Result of resolving one specifier: the module key it names, or why it names none. */
export type Resolution = { ok: true; key: string } | { ok: false; message: string };

/** Resolves `specifier` imported by module `referrer` against the revision's module keys. */
export function resolveSpecifier(specifier: string, referrer: string, keys: ReadonlySet<string>): Resolution {
  const notOurs = (why: string): Resolution => ({
    ok: false,
    message: `${referrer} imports "${specifier}", ${why}; only relative imports of the reconciler's own files (e.g. "./lib.ts") resolve`,
  });
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return notOurs("which is not a module of this reconciler");
  const key = posix.normalize(posix.join(posix.dirname(referrer), specifier));
  if (key.startsWith("../") || key === "..") return notOurs("which points outside the reconciler");
  if (!keys.has(key)) return notOurs(`but there is no file "${key}" in the reconciler`);
  return { ok: true, key };
}
