/**
 * Which keys of a reconciler ConfigMap are its source, and which of those are modules:
 * the one place that says so. Every `*.ts` key is source (it is compiled or warned
 * about, hashed into failures, kept in revisions, replaced by a save or rollback and
 * shown in the editor); other keys (README.md, settings) are left alone. A `*.d.ts`
 * key is source but not a module: it has no code, so the compiler warns and skips it.
 *
 * Pure and import-free: the UI bundles this file (node ui/build.ts), so it must stay so.
 */

/** True for a key that belongs to the source: it ends with `.ts` (`.d.ts` included). */
export function isSourceKey(key: string): boolean {
  return key.endsWith(".ts");
}

/** True for a source key that is a module (compiled and loaded): `*.ts` but not `*.d.ts`. */
export function isModuleKey(key: string): boolean {
  return isSourceKey(key) && !key.endsWith(".d.ts");
}
