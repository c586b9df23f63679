/**
 * The one owner of "which kind": the contract's `KindRef` (apiVersion + kind, as a
 * reconciler declares `for` and `owns`), its map key and its equality. Everything that
 * names a kind imports these; the UI sees the type through server/protocol.ts.
 */
import type { KindRef } from "../../types/chakrator.d.ts";

export type { KindRef };

/** `apiVersion/kind`, e.g. `apps/v1/Deployment`: the key of maps by kind. */
export function kindKey(k: KindRef): string {
  return `${k.apiVersion}/${k.kind}`;
}

/** The same kind (same group, version and kind). */
export function sameKind(a: KindRef, b: KindRef): boolean {
  return a.apiVersion === b.apiVersion && a.kind === b.kind;
}
