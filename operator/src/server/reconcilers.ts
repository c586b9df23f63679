/**
 * The reconciler routes under /api/reconcilers (protocol.ts): list, read, save,
 * create, revisions, rollback, resources.
 *
 * Every ConfigMap read or write here uses the signed-in person's client, so RBAC and
 * the audit log apply to them (a person without RBAC gets the API server's 403). What
 * only the operator knows, its in-memory state (active revision, last rejection,
 * counters), is listed only for the reconcilers the person may `get`
 * (SelfSubjectAccessReview: `get configmaps` in the namespace, or on that ConfigMap by
 * name), so the list discloses nothing `kubectl get configmap` would not.
 *
 * Saving is optimistic: the editor sends the resourceVersion it loaded; a mismatch,
 * found by us or by the API server, is a 409 `SaveConflict` carrying the current files,
 * so the editor never silently overwrites a kubectl or skaffold edit.
 */
import Router from "@koa/router";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "koa";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import type { Operator } from "../operator.ts";
import type { ReconcilerState } from "../reconcilers/loader.ts";
import { listRevisions, reconcilerLabel, rollback, RollbackError, type ConfigMap } from "../reconcilers/revisions.ts";
import { isSourceKey } from "../reconcilers/source-keys.ts";
import { liveReader, type Permissions } from "./access.ts";
import { principal, type AuthMode, type Principal } from "./auth.ts";
import { bodyObject, filesField, optionalString, stringField } from "./body.ts";
import { ApiError } from "./errors.ts";
import type { ReconcilerSource, ReconcilerSummary, ResourceRef, Revision, SaveConflict, SaveResponse } from "./protocol.ts";

/** The field manager of every editor write, visible in `managedFields`. */
export const EDITOR_FIELD_MANAGER = "chakrator-editor";

/** Reconcile counters of one reconciler. */
export type Counts = (reconciler: string) => { reconciles: number; errors: number };

/** What the reconciler routes need. */
export interface ReconcilerRouteDeps {
  operator: Operator;
  mode: AuthMode;
  permissions: Permissions;
  counts: Counts;
  /** Folder holding one folder per template (`samples/`); template "message" is `01-message`. */
  samplesDir: string;
}

const TEMPLATES: Record<string, string> = { message: "01-message" };
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkName(namespace: string, name: string): void {
  if (!NAMESPACE.test(namespace) || namespace.length > 63) throw new ApiError(400, "BadRequest", `"${namespace}" is not a namespace name`);
  if (!NAME.test(name) || name.length > 253) throw new ApiError(400, "BadRequest", `"${name}" is not a ConfigMap name`);
}

function cmPath(namespace: string, name?: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;
}

/** Reads a reconciler ConfigMap with `client`; 404 when it is missing or not labelled as a reconciler. */
async function readReconciler(client: KubeClient, namespace: string, name: string): Promise<ConfigMap> {
  const cm = await client.request<ConfigMap>("GET", cmPath(namespace, name));
  if (cm.metadata.labels?.[reconcilerLabel] !== "true") {
    throw new ApiError(404, "NotFound", `ConfigMap ${namespace}/${name} is not a reconciler (label ${reconcilerLabel}: "true" missing)`);
  }
  return cm;
}

function summary(state: ReconcilerState | undefined, namespace: string, name: string, resourceVersion: string, counts: Counts, permissions: { update: boolean; create: boolean }): ReconcilerSummary {
  const out: ReconcilerSummary = { namespace, name, resourceVersion, counts: counts(`${namespace}/${name}`), permissions };
  if (state?.active) out.active = { ...state.active, owns: [...state.active.owns] };
  if (state?.lastRejection) out.lastRejection = state.lastRejection;
  return out;
}

/** Only the source keys of `files` (`isSourceKey`), with the other keys of `current` kept. */
function mergeData(current: Record<string, string> | undefined, files: Record<string, string>): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(current ?? {})) if (!isSourceKey(k)) data[k] = v;
  return Object.assign(data, files);
}

async function conflict(client: KubeClient, namespace: string, name: string, message: string): Promise<ApiError> {
  const current = await readReconciler(client, namespace, name);
  const extra: Omit<SaveConflict, "error"> = { current: { files: current.data ?? {}, resourceVersion: current.metadata.resourceVersion ?? "" } };
  return new ApiError(409, "Conflict", message, { extra });
}

/** Reads a template's files (`*.ts`, tests excluded). */
function templateFiles(samplesDir: string, template: string): Record<string, string> {
  const dir = TEMPLATES[template];
  if (!dir) throw new ApiError(400, "BadRequest", `field "template": unknown template "${template}" (known: ${Object.keys(TEMPLATES).join(", ")})`);
  const base = join(samplesDir, dir);
  const files: Record<string, string> = {};
  for (const f of readdirSync(base)) if (isSourceKey(f) && !f.endsWith(".test.ts")) files[f] = readFileSync(join(base, f), "utf8");
  return files;
}

/** The reconciler routes, mounted under /api. */
export function reconcilerRoutes(deps: ReconcilerRouteDeps): Router {
  const { operator, counts } = deps;
  const router = new Router({ prefix: "/api" });

  const source = async (p: Principal, cm: ConfigMap): Promise<ReconcilerSource> => {
    const namespace = cm.metadata.namespace ?? "";
    const name = cm.metadata.name;
    const state = operator.sources.state(`${namespace}/${name}`);
    const s = summary(state, namespace, name, cm.metadata.resourceVersion ?? "", counts, await deps.permissions.of(p, namespace));
    return { ...s, files: cm.data ?? {} };
  };

  router.get("/reconcilers", async (ctx: Context) => {
    const p = principal(ctx);
    // From the operator's memory, only what the person may read (module comment).
    const all = operator.sources.states();
    const readable = deps.mode.auth === "off" ? all.map(() => true) : await Promise.all(all.map((s) => deps.permissions.mayRead(p, s.namespace, s.name)));
    const states = all.filter((_, i) => readable[i]);
    const namespaces = [...new Set(states.map((s) => s.namespace))];
    const perms = new Map(await Promise.all(namespaces.map(async (ns) => [ns, await deps.permissions.of(p, ns)] as const)));
    const items = states.map((s) => summary(s, s.namespace, s.name, s.resourceVersion, counts, perms.get(s.namespace) ?? { update: false, create: false }));
    ctx.body = { items };
  });

  router.post("/reconcilers", async (ctx: Context) => {
    const p = principal(ctx);
    const body = bodyObject(ctx);
    const namespace = stringField(body, "namespace");
    const name = stringField(body, "name");
    checkName(namespace, name);
    const files = templateFiles(deps.samplesDir, optionalString(body, "template") ?? "message");
    const cm: ConfigMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace, labels: { [reconcilerLabel]: "true" } }, data: files };
    const created = await p.client.request<ConfigMap>("POST", cmPath(namespace), { body: cm, query: { fieldManager: EDITOR_FIELD_MANAGER } });
    ctx.status = 201;
    ctx.body = await source(p, created);
  });

  router.get("/reconcilers/:ns/:name", async (ctx: Context) => {
    const { ns, name } = params(ctx);
    const p = principal(ctx);
    ctx.body = await source(p, await readReconciler(p.client, ns, name));
  });

  router.put("/reconcilers/:ns/:name", async (ctx: Context) => {
    const { ns, name } = params(ctx);
    const p = principal(ctx);
    const body = bodyObject(ctx);
    const files = filesField(body);
    const resourceVersion = stringField(body, "resourceVersion");
    if (body["force"] !== undefined && typeof body["force"] !== "boolean") throw new ApiError(400, "BadRequest", `field "force" must be a boolean`);
    // The person's own read comes first: someone who may not read it gets the API
    // server's 403 (or 404), not diagnostics, and costs no compile.
    const current = await readReconciler(p.client, ns, name);
    if (body["force"] !== true) {
      const compiled = await operator.compiler.compile(files, { lane: "editor" });
      if (!compiled.ok) {
        const errors = compiled.diagnostics.filter((d) => d.severity === "error").length;
        throw new ApiError(422, "Invalid", `the source does not compile (${errors} error${errors === 1 ? "" : "s"}); fix it or save with force`, { diagnostics: compiled.diagnostics });
      }
    }
    if (current.metadata.resourceVersion !== resourceVersion) {
      throw await conflict(p.client, ns, name, `reconciler ${ns}/${name} was changed by someone else (resourceVersion ${current.metadata.resourceVersion}, you loaded ${resourceVersion}); reload or merge`);
    }
    const next: ConfigMap = { ...current, metadata: { ...current.metadata, resourceVersion }, data: mergeData(current.data, files) };
    delete next.metadata["managedFields"];
    let saved: ConfigMap;
    try {
      saved = await p.client.request<ConfigMap>("PUT", cmPath(ns, name), { body: next, query: { fieldManager: EDITOR_FIELD_MANAGER } });
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 409) throw await conflict(p.client, ns, name, `reconciler ${ns}/${name} was changed by someone else while saving; reload or merge`);
      throw err;
    }
    const res: SaveResponse = { resourceVersion: saved.metadata.resourceVersion ?? "" };
    ctx.body = res;
  });

  router.get("/reconcilers/:ns/:name/revisions", async (ctx: Context) => {
    const { ns, name } = params(ctx);
    const p = principal(ctx);
    const active = operator.sources.state(`${ns}/${name}`)?.active?.number;
    const items: Revision[] = (await listRevisions(p.client, ns, name)).map((r) => ({ ...r, active: r.number === active }));
    ctx.body = { items };
  });

  router.post("/reconcilers/:ns/:name/rollback", async (ctx: Context) => {
    const { ns, name } = params(ctx);
    const p = principal(ctx);
    const body = bodyObject(ctx);
    const revision = body["revision"];
    if (typeof revision !== "number" || !Number.isInteger(revision) || revision < 1) throw new ApiError(400, "BadRequest", `field "revision" must be a positive integer`);
    const resourceVersion = stringField(body, "resourceVersion");
    try {
      const saved = await rollback(p.client, ns, name, revision, resourceVersion);
      const res: SaveResponse = { resourceVersion: saved.metadata.resourceVersion ?? "" };
      ctx.body = res;
    } catch (err: unknown) {
      if (err instanceof RollbackError) throw new ApiError(err.status, err.status === 404 ? "NotFound" : "Conflict", err.message, { cause: err });
      throw err;
    }
  });

  router.get("/reconcilers/:ns/:name/resources", async (ctx: Context) => {
    const { ns, name } = params(ctx);
    const p = principal(ctx);
    const controller = operator.engine.controller(`${ns}/${name}`);
    const kind = controller?.revision.for ?? operator.sources.state(`${ns}/${name}`)?.active?.for;
    if (!kind) throw new ApiError(404, "NotFound", `reconciler ${ns}/${name} has no running revision, so its kind is unknown`);
    const scope = controller ? controller.revision.namespace : ns;
    const objects = await liveReader(operator, deps.mode.auth, p).list(kind, scope);
    const items: ResourceRef[] = objects
      .map((o) => ({ apiVersion: kind.apiVersion, kind: kind.kind, namespace: o.metadata.namespace ?? "", name: o.metadata.name }))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    ctx.body = { items };
  });

  return router;
}

function params(ctx: Context): { ns: string; name: string } {
  const p = (ctx as Context & { params: Record<string, string> }).params;
  const ns = p["ns"] ?? "";
  const name = p["name"] ?? "";
  checkName(ns, name);
  return { ns, name };
}
