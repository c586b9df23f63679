/**
 * Children: from what user code returned to what the API server should hold.
 *
 * `prepareChildren` validates the desired children (only `owns` kinds, namespaced in
 * the parent's namespace, unique, with a name) and stamps each with the controller
 * owner reference and the owner label. `needsApply` tells whether a live child
 * already holds every desired field (then the server-side apply would be a no-op
 * and is skipped: a converged cluster costs no writes). `childrenToPrune` picks the
 * children made before that are no longer desired. `adoptionConflict` says why an
 * object that already exists may not be taken over (no adoption of foreign objects).
 *
 * These functions are pure; controller.ts does the I/O.
 */
import type { KubeObject } from "../kube/client.ts";
import { kindKey, type KindRef } from "../kube/kind-ref.ts";
import { isDnsSubdomain } from "../kube/names.ts";

/** The label every child carries: the UID of the resource that owns it. */
export const ownerLabel = "chakrator.dev/owner-uid";

/** The field manager of every write the engine makes. */
export const fieldManager = "chakrator";

/**
 * The annotation by which an existing object opts in to being adopted: its value names
 * the parent as `<Kind>/<name>` (e.g. `Website/shop`). Without it, an object that
 * exists and is not controlled by the parent is never taken over.
 */
export const adoptAnnotation = "chakrator.dev/adopt";

/**
 * A desired child already exists and belongs to someone else (like controller-runtime's
 * `AlreadyOwnedError`, or Helm's ownership check): the live object is left untouched.
 */
export class ChildConflictError extends Error {
  override name = "ChildConflictError";
}

/**
 * Why `parent` may not write `live`, the object that already holds a desired child's
 * name, or undefined when it may: `live` is controlled by `parent`, or it has no
 * controller and opts in with `adoptAnnotation` naming `parent`.
 */
export function adoptionConflict(parent: KubeObject, live: KubeObject): string | undefined {
  const what = `${live.kind} ${live.metadata.name}`;
  const controller = live.metadata.ownerReferences?.find((r) => r.controller === true);
  if (controller !== undefined) {
    if (controller.uid === parent.metadata.uid) return undefined;
    return `${what} already exists and is controlled by ${controller.kind} ${controller.name} (uid ${controller.uid}); it is left as it is. Rename the child, or remove it from the other owner first`;
  }
  const optIn = live.metadata.annotations?.[adoptAnnotation];
  if (optIn === `${parent.kind}/${parent.metadata.name}`) return undefined;
  return `${what} already exists and is not controlled by ${parent.kind} ${parent.metadata.name}; it is left as it is. To let Chakrator adopt it, annotate it ${adoptAnnotation}=${parent.kind}/${parent.metadata.name}`;
}

/** A desired child is invalid; the message names the child and what is wrong. */
export class InvalidChildError extends Error {
  override name = "InvalidChildError";
}

export { kindKey };

/**
 * Validates `desired` against `owns` and returns copies ready to apply.
 * Throws `InvalidChildError` for the first problem found.
 */
export function prepareChildren(parent: KubeObject, desired: unknown, owns: readonly KindRef[]): KubeObject[] {
  if (desired === undefined) return [];
  if (!Array.isArray(desired)) throw new InvalidChildError("children must be an array");
  const allowed = new Set(owns.map(kindKey));
  const seen = new Set<string>();
  const out: KubeObject[] = [];
  const ns = parent.metadata.namespace;
  desired.forEach((c: unknown, i) => {
    const where = `children[${i}]`;
    if (typeof c !== "object" || c === null || Array.isArray(c)) throw new InvalidChildError(`${where} is not an object`);
    const child = c as Partial<KubeObject>;
    if (typeof child.apiVersion !== "string" || typeof child.kind !== "string") throw new InvalidChildError(`${where} needs apiVersion and kind`);
    const what = `${where} (${child.kind} ${child.metadata?.name ?? "?"})`;
    if (!allowed.has(kindKey(child as KindRef))) {
      throw new InvalidChildError(`${what}: kind ${child.apiVersion}/${child.kind} is not in owns [${[...allowed].join(", ") || "none"}]; declare it in owns to create it`);
    }
    const name = child.metadata?.name;
    if (typeof name !== "string" || !isDnsSubdomain(name)) {
      throw new InvalidChildError(`${what}: metadata.name must be a DNS subdomain (lower case letters, digits, '-', '.')`);
    }
    const childNs = child.metadata?.namespace ?? ns;
    if (childNs !== ns) throw new InvalidChildError(`${what}: namespace ${childNs} differs from the resource's (${ns ?? "cluster"}); owner references cannot cross namespaces`);
    const id = `${kindKey(child as KindRef)}/${name}`;
    if (seen.has(id)) throw new InvalidChildError(`${what}: returned twice`);
    seen.add(id);
    const { metadata, ...rest } = child as KubeObject;
    const meta: KubeObject["metadata"] = {
      ...metadata,
      name,
      labels: { ...metadata.labels, [ownerLabel]: parent.metadata.uid ?? "" },
      ownerReferences: [{
        apiVersion: parent.apiVersion,
        kind: parent.kind,
        name: parent.metadata.name,
        uid: parent.metadata.uid ?? "",
        controller: true,
        blockOwnerDeletion: true,
      }],
    };
    if (ns !== undefined) meta.namespace = ns;
    for (const k of ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "finalizers"]) delete meta[k];
    const prepared = { ...rest, metadata: meta } as KubeObject;
    delete prepared.status;
    out.push(prepared);
  });
  return out;
}

/** True when `live` lacks a desired field or holds a different value there. */
export function needsApply(desired: KubeObject, live: KubeObject | undefined): boolean {
  return live === undefined || !contains(live, desired);
}

/** Deep "superset" check: every field of `want` is present and equal in `have`. */
export function contains(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== "object") return have === want || (typeof want === "number" && typeof have === "number" && want === have);
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => contains(have[i], w));
  }
  if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
  const h = have as Record<string, unknown>;
  return Object.entries(want as Record<string, unknown>).every(([k, w]) => w === undefined || contains(h[k], w));
}

/** Live children of `owner` (by owner label and controller reference) that are not desired. */
export function childrenToPrune(owner: KubeObject, live: readonly KubeObject[], desired: readonly KubeObject[]): KubeObject[] {
  const keep = new Set(desired.map((d) => `${kindKey(d)}/${d.metadata.name}`));
  return live.filter((c) =>
    c.metadata.labels?.[ownerLabel] === owner.metadata.uid &&
    c.metadata.ownerReferences?.some((r) => r.controller && r.uid === owner.metadata.uid) &&
    !c.metadata.deletionTimestamp &&
    !keep.has(`${kindKey(c)}/${c.metadata.name}`));
}
