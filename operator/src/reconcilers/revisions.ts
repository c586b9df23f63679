/**
 * Revision history, kept in the cluster so that every editing path (editor, kubectl,
 * skaffold) shares it: each accepted source is an immutable ConfigMap
 * `<reconciler>-rev-<n>` in the reconciler's namespace, labelled with the reconciler's
 * name and its number, annotated with the content hash, owned by the reconciler
 * ConfigMap (so deleting the reconciler deletes its history with it).
 *
 * Guarantees: numbers only grow; a source whose hash equals the newest revision's is
 * that revision (an operator restart records nothing new); at most `keep` revisions
 * remain. Rollback writes an old revision's source back into the reconciler
 * ConfigMap with a resourceVersion precondition, and the operator then records it as
 * a new revision, like `kubectl rollout undo`.
 */
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import { stripTrailingWhitespace } from "./compile-input.ts";
import { isSourceKey } from "./source-keys.ts";

export const reconcilerLabel = "chakrator.dev/reconciler";
export const revisionOfLabel = "chakrator.dev/revision-of";
export const revisionNumberLabel = "chakrator.dev/revision";
export const hashAnnotation = "chakrator.dev/hash";

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  immutable?: boolean;
}

/** A recorded revision. */
export interface RevisionRecord {
  number: number;
  hash: string;
  name: string;
  createdAt: string;
  /** The ConfigMap's data: the source files. */
  files: Record<string, string>;
}

/** Only the source keys of a ConfigMap (`isSourceKey`: `*.ts`). */
export function sourceFiles(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) if (isSourceKey(k)) out[k] = v;
  return out;
}

function toRecord(cm: ConfigMap): RevisionRecord {
  return {
    number: Number(cm.metadata.labels?.[revisionNumberLabel] ?? 0),
    hash: cm.metadata.annotations?.[hashAnnotation] ?? "",
    name: cm.metadata.name,
    createdAt: cm.metadata.creationTimestamp ?? "",
    files: cm.data ?? {},
  };
}

/** The revisions of reconciler `name` in `namespace`, newest first. */
export async function listRevisions(client: KubeClient, namespace: string, name: string): Promise<RevisionRecord[]> {
  const list = await client.list<ConfigMap>("v1", "ConfigMap", { namespace, labelSelector: `${revisionOfLabel}=${name}` });
  return list.items.map(toRecord).sort((a, b) => b.number - a.number);
}

/**
 * Records `files` (hash `hash`) as the next revision of `reconciler`, unless the newest
 * revision already has that hash; prunes to `keep`. Returns the revision number and
 * whether it was written now (false after an operator restart).
 */
export async function recordRevision(client: KubeClient, reconciler: ConfigMap, files: Record<string, string>, hash: string, keep: number): Promise<{ number: number; created: boolean }> {
  const namespace = reconciler.metadata.namespace ?? "default";
  const name = reconciler.metadata.name;
  for (let attempt = 0; ; attempt++) {
    const existing = await listRevisions(client, namespace, name);
    const newest = existing[0];
    if (newest && newest.hash === hash) return { number: newest.number, created: false };
    const number = (newest?.number ?? 0) + 1;
    const revName = `${name.slice(0, 240)}-rev-${number}`;
    const cm: ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: revName,
        namespace,
        labels: { [revisionOfLabel]: name.slice(0, 63), [revisionNumberLabel]: String(number) },
        annotations: { [hashAnnotation]: hash, "chakrator.dev/source-resource-version": reconciler.metadata.resourceVersion ?? "" },
        ownerReferences: reconciler.metadata.uid ? [{ apiVersion: "v1", kind: "ConfigMap", name, uid: reconciler.metadata.uid }] : [],
      },
      immutable: true,
      data: files,
    };
    try {
      await client.create(cm);
    } catch (err: unknown) {
      // Another operator replica (or a stale list) took this number: look again.
      if (err instanceof KubeApiError && err.status === 409 && attempt < 5) continue;
      throw err;
    }
    for (const old of existing.slice(Math.max(0, keep - 1))) {
      await client.delete("v1", "ConfigMap", old.name, namespace);
    }
    return { number, created: true };
  }
}

/** Rollback refused: the revision does not exist, or the reconciler changed meanwhile. */
export class RollbackError extends Error {
  override name = "RollbackError";
  readonly status: number;
  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/**
 * Writes revision `number`'s source back into the reconciler ConfigMap (keys other
 * than `*.ts` are kept). With `expectedResourceVersion`, a concurrent edit is a 409
 * `RollbackError` rather than a lost update. Acts with `client`'s identity, so the
 * editor passes the signed-in user's client.
 */
export async function rollback(client: KubeClient, namespace: string, name: string, number: number, expectedResourceVersion?: string): Promise<ConfigMap> {
  const revisions = await listRevisions(client, namespace, name);
  const target = revisions.find((r) => r.number === number);
  if (!target) throw new RollbackError(404, `reconciler ${namespace}/${name} has no revision ${number} (kept: ${revisions.map((r) => r.number).join(", ") || "none"})`);
  const current = await client.get<ConfigMap>("v1", "ConfigMap", name, namespace);
  if (!current) throw new RollbackError(404, `reconciler ConfigMap ${namespace}/${name} does not exist`);
  if (expectedResourceVersion && current.metadata.resourceVersion !== expectedResourceVersion) {
    throw new RollbackError(409, `reconciler ${namespace}/${name} changed since you loaded it (resourceVersion ${current.metadata.resourceVersion}, you had ${expectedResourceVersion})`);
  }
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(current.data ?? {})) if (!isSourceKey(k)) data[k] = v;
  // Like the editor's save: no trailing whitespace, so `kubectl edit` shows `|` blocks.
  for (const [k, v] of Object.entries(sourceFiles(target.files))) data[k] = stripTrailingWhitespace(v);
  try {
    return await client.replace<ConfigMap>({ ...current, data });
  } catch (err: unknown) {
    if (err instanceof KubeApiError && err.status === 409) throw new RollbackError(409, `reconciler ${namespace}/${name} changed during the rollback; reload and try again`, { cause: err });
    throw err;
  }
}
