/**
 * Trying source without saving it: `POST /api/validate` and `POST /api/dry-run`.
 *
 * Validate uses the operator's warm compiler, so it is quick enough to run as the
 * person types (the UI debounces). Dry-run runs the unsaved source in the sandbox
 * against one resource and writes nothing: either a live object (`target`, read with
 * the person's own client when auth is on, see access.ts) or a pasted one (`yaml`, YAML
 * or JSON). For a live target the response also carries what exists now (`live`): its
 * status and the children the engine made for it (objects of the source's `owns` kinds
 * labelled `chakrator.dev/owner-uid=<uid>`), for the editor's diff.
 *
 * The target's kind is the source's own `for`: the source is loaded once to learn it
 * (a dry run of a source that does not compile answers with its diagnostics).
 */
import Router from "@koa/router";
import type { Context } from "koa";
import { parse as parseYaml } from "yaml";
import { dryRun } from "../engine/dryrun.ts";
import { ownerLabel } from "../engine/children.ts";
import type { KubeObject } from "../kube/client.ts";
import type { Operator } from "../operator.ts";
import { formatDiagnostics } from "../source/compile-diagnostics.ts";
import { liveReader, type Kind, type LiveReader } from "./access.ts";
import { principal, type AuthMode } from "./auth.ts";
import { bodyObject, filesField, optionalString } from "./body.ts";
import { ApiError } from "./errors.ts";
import type { DryRunResponse, ValidateResponse } from "./protocol.ts";

let probes = 0;

/** The `for` and `owns` kinds the source declares, or the compile failure. */
async function declaredKinds(operator: Operator, files: Record<string, string>): Promise<{ for: Kind; owns: Kind[] } | { failure: DryRunResponse }> {
  const started = performance.now();
  const compiled = await operator.compiler.compile(files);
  if (!compiled.ok) {
    return { failure: { ok: false, diagnostics: compiled.diagnostics, children: [], logs: [], events: [], error: { reason: "CompileError", message: formatDiagnostics(compiled.diagnostics, 5) }, durationMs: performance.now() - started } };
  }
  const id = `editor-probe-${++probes}@${compiled.hash.slice(0, 16)}`;
  try {
    const loaded = await operator.sandbox.load({ id, modules: compiled.modules, entry: compiled.entry });
    return { for: loaded.for, owns: loaded.owns };
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    return { failure: { ok: false, diagnostics: compiled.diagnostics, children: [], logs: [], events: [], error: { reason: "LoadError", message }, durationMs: performance.now() - started } };
  } finally {
    await operator.sandbox.unload(id).catch(() => {});
  }
}

function parsePasted(text: string): unknown {
  try {
    return parseYaml(text) as unknown; // YAML 1.2 is a superset of JSON
  } catch (err: unknown) {
    throw new ApiError(400, "BadRequest", `field "yaml" is not YAML or JSON: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
}

function parseTarget(v: unknown): { namespace: string; name: string } {
  if (typeof v !== "object" || v === null) throw new ApiError(400, "BadRequest", `field "target" must be { namespace, name }`);
  const t = v as Record<string, unknown>;
  if (typeof t["namespace"] !== "string" || t["namespace"] === "") throw new ApiError(400, "BadRequest", `field "target.namespace" must be a non-empty string`);
  if (typeof t["name"] !== "string" || t["name"] === "") throw new ApiError(400, "BadRequest", `field "target.name" must be a non-empty string`);
  return { namespace: t["namespace"], name: t["name"] };
}

/** Cache reads for the dry run's ctx.get/list, through `reader`. */
function bridgeReads(reader: LiveReader, namespace: string) {
  return {
    get: async (kind: Kind, name: string, ns?: string) => (await reader.get(kind, name, ns ?? namespace)) as never,
    list: async (kind: Kind, options?: { namespace?: string; labels?: Record<string, string> }) => (await reader.list(kind, options?.namespace, options?.labels)) as never,
  };
}

/** The validate and dry-run routes, mounted under /api. */
export function runRoutes(deps: { operator: Operator; mode: AuthMode }): Router {
  const { operator } = deps;
  const router = new Router({ prefix: "/api" });

  router.post("/validate", async (ctx: Context) => {
    const files = filesField(bodyObject(ctx));
    const started = performance.now();
    const result = await operator.compiler.compile(files);
    const res: ValidateResponse = { ok: result.ok, hash: result.hash, diagnostics: result.diagnostics, durationMs: performance.now() - started };
    ctx.body = res;
  });

  router.post("/dry-run", async (ctx: Context) => {
    const body = bodyObject(ctx);
    const files = filesField(body);
    const yaml = optionalString(body, "yaml");
    if ((body["target"] === undefined) === (yaml === undefined)) throw new ApiError(400, "BadRequest", `give exactly one of field "target" (a live object) or field "yaml" (a pasted one)`);
    const reader = liveReader(operator, deps.mode.auth, principal(ctx));

    if (yaml !== undefined) {
      const resource = parsePasted(yaml);
      const ns = (resource as KubeObject | null)?.metadata?.namespace ?? "default";
      const result = await dryRun({ compiler: operator.compiler, sandbox: operator.sandbox, files, resource, read: bridgeReads(reader, typeof ns === "string" ? ns : "default") });
      ctx.body = toResponse(result);
      return;
    }

    const target = parseTarget(body["target"]);
    const kinds = await declaredKinds(operator, files);
    if ("failure" in kinds) {
      ctx.body = kinds.failure;
      return;
    }
    const live = await reader.get(kinds.for, target.name, target.namespace);
    if (!live) throw new ApiError(404, "NotFound", `${kinds.for.kind} ${target.namespace}/${target.name} does not exist`);
    const result = await dryRun({ compiler: operator.compiler, sandbox: operator.sandbox, files, resource: live, read: bridgeReads(reader, target.namespace) });
    const res = toResponse(result);
    const uid = live.metadata.uid;
    const children: unknown[] = [];
    if (uid) {
      for (const kind of kinds.owns) {
        // A kind the person may not list is left out of the diff rather than failing the run.
        const owned = await reader.list(kind, target.namespace, { [ownerLabel]: uid }).catch(() => []);
        for (const o of owned) children.push({ ...o, apiVersion: kind.apiVersion, kind: kind.kind });
      }
    }
    res.live = live["status"] === undefined ? { children } : { children, status: live["status"] };
    ctx.body = res;
  });

  return router;
}

function toResponse(r: Awaited<ReturnType<typeof dryRun>>): DryRunResponse {
  const res: DryRunResponse = { ok: r.ok, diagnostics: r.diagnostics, children: r.children, logs: r.logs, events: r.events, durationMs: r.durationMs };
  if (r.status !== undefined) res.status = r.status;
  if (r.requeueAfterSeconds !== undefined) res.requeueAfterSeconds = r.requeueAfterSeconds;
  if (r.error !== undefined) res.error = r.error;
  return res;
}
