/**
 * From what `mutate` returned to what the API server accepts: a JSON Patch (RFC 6902)
 * from the object the webhook was given to the object returned, after refusing changes
 * to the fields that name the object or that the operator owns.
 *
 * The patch is minimal per object key and coarse per array: an array that differs is
 * replaced whole. That is always correct (a patch applies to exactly the object it was
 * computed from) and keeps list semantics out of it.
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PatchOperation {
  op: "add" | "remove" | "replace";
  path: string;
  value?: Json;
}

/** Fields `mutate` may not change, as paths of keys. */
const PROTECTED: ReadonlyArray<readonly string[]> = [["apiVersion"], ["kind"], ["metadata", "name"], ["metadata", "namespace"], ["status"]];

/** The protected field `after` changes relative to `before`, as `metadata.name` etc.; undefined when none. */
export function protectedChange(before: unknown, after: unknown): string | undefined {
  for (const path of PROTECTED) {
    if (!equal(at(before, path), at(after, path))) return path.join(".");
  }
  return undefined;
}

/** The JSON Patch that turns `before` into `after` (both JSON). */
export function jsonPatch(before: unknown, after: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  diff(before as Json, after as Json, "", ops);
  return ops;
}

function diff(a: Json, b: Json, path: string, ops: PatchOperation[]): void {
  if (isObject(a) && isObject(b)) {
    for (const key of Object.keys(a)) {
      if (!(key in b)) ops.push({ op: "remove", path: `${path}/${escape(key)}` });
    }
    for (const [key, value] of Object.entries(b)) {
      const child = `${path}/${escape(key)}`;
      if (!(key in a)) ops.push({ op: "add", path: child, value });
      else diff(a[key] as Json, value, child, ops);
    }
    return;
  }
  if (!equal(a, b)) ops.push({ op: "replace", path, value: b });
}

function at(value: unknown, path: readonly string[]): unknown {
  let here = value;
  for (const key of path) {
    if (!isObject(here as Json)) return undefined;
    here = (here as Record<string, unknown>)[key];
  }
  return here;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => equal(item, b[i]));
  if (isObject(a as Json) && isObject(b as Json)) {
    const ka = Object.keys(a as object), kb = Object.keys(b as object);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 6901: `~` and `/` in a key. */
function escape(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}
