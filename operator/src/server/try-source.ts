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
 * The target's kind is the source's own `for`: the dry run reads the live object once
 * the source is loaded (one compile, one load; a source that does not compile answers
 * with its diagnostics).
 *
 * Editor work in its own lane (lane.ts):
 * - Both routes name the reconciler being edited (`reconciler: {namespace, name}`) and
 *   need that the person may `update configmaps` in its namespace
 *   (SelfSubjectAccessReview with their own token, cached 10 s): 403 otherwise. Any
 *   valid token (a pod's ServiceAccount) is not enough to run code here.
 * - Both wait in the server-wide `EditorLane` (concurrency cap, bounded queue, per
 *   person cap): 429 with `Retry-After` when it is full.
 * - A validation replaces the same person's waiting validation of the same reconciler;
 *   the replaced request is answered 409 `Superseded` (the newer one answers for it).
 * - Compiles ask for `{ lane: "editor" }`, so the compiler serves the operator's own
 *   revisions first; dry runs load into the sandbox host `EDITOR_HOST`, never a
 *   production reconciler's host.
 */
import Router from "@koa/router";
import type { Context } from "koa";
import { parse as parseYaml } from "yaml";
import { admissionDryRun, NO_ADMISSION } from "../admission/dryrun.ts";
import { dryRun, withTrial, type Trial } from "../engine/dryrun.ts";
import { ownerLabel } from "../engine/children.ts";
import type { KubeObject } from "../kube/client.ts";
import type { Operator } from "../operator.ts";
import type { Compiler } from "../reconcilers/compile-process.ts";
import { EDITOR_HOST } from "../sandbox/index.ts";
import type { KindRef } from "../kube/kind-ref.ts";
import { liveReader, type LiveReader, type Permissions } from "./access.ts";
import { principal, type AuthMode, type Principal } from "./auth.ts";
import { bodyObject, filesField, optionalString } from "./body.ts";
import { ApiError } from "./errors.ts";
import { inLane, laneOwner as personOf, type EditorLane } from "./lane.ts";
import type { DryRunResponse, ValidateResponse } from "./protocol.ts";

const EDITOR = { lane: "editor" } as const;


/** `body.reconciler` as { namespace, name }; 400 otherwise. */
function reconcilerField(body: Record<string, unknown>): { namespace: string; name: string } {
  const v = body["reconciler"];
  const r = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof r["namespace"] !== "string" || r["namespace"] === "" || typeof r["name"] !== "string" || r["name"] === "") {
    throw new ApiError(400, "BadRequest", `field "reconciler" must be { namespace, name } of the reconciler being edited`);
  }
  return { namespace: r["namespace"], name: r["name"] };
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
    get: async (kind: KindRef, name: string, ns?: string) => (await reader.get(kind, name, ns ?? namespace)) as never,
    list: async (kind: KindRef, options?: { namespace?: string; labels?: Record<string, string> }) => (await reader.list(kind, options?.namespace, options?.labels)) as never,
  };
}

/** What the validate and dry-run routes need. */
export interface TrySourceRouteDeps {
  operator: Operator;
  mode: AuthMode;
  permissions: Permissions;
  lane: EditorLane;
}

/** The validate and dry-run routes, mounted under /api. */
export function trySourceRoutes(deps: TrySourceRouteDeps): Router {
  const { operator, lane } = deps;
  const router = new Router({ prefix: "/api" });

  /** 403 unless `p` may update ConfigMaps in `namespace` (auth off: the operator may). */
  const mayEdit = async (p: Principal, namespace: string, what: string): Promise<void> => {
    if (deps.mode.auth === "off") return;
    if (await deps.permissions.may(p, "update", namespace)) return;
    throw new ApiError(403, "Forbidden", `${what} is for people who may edit reconcilers: you may not update configmaps in namespace "${namespace}" (kubectl auth can-i update configmaps -n ${namespace})`);
  };

  router.post("/validate", async (ctx: Context) => {
    const body = bodyObject(ctx);
    const files = filesField(body);
    const reconciler = reconcilerField(body);
    const p = principal(ctx);
    await mayEdit(p, reconciler.namespace, "validation");
    const person = personOf(p);
    const res = await inLane(ctx, lane, person, `${person}\n${reconciler.namespace}/${reconciler.name}`, async (): Promise<ValidateResponse> => {
      const started = performance.now();
      const result = await operator.compiler.compile(files, EDITOR);
      return { ok: result.ok, hash: result.hash, diagnostics: result.diagnostics, durationMs: performance.now() - started };
    });
    ctx.body = res;
  });

  router.post("/dry-run", async (ctx: Context) => {
    const body = bodyObject(ctx);
    const files = filesField(body);
    const yaml = optionalString(body, "yaml");
    if ((body["target"] === undefined) === (yaml === undefined)) throw new ApiError(400, "BadRequest", `give exactly one of field "target" (a live object) or field "yaml" (a pasted one)`);
    const reconciler = reconcilerField(body);
    const target = yaml === undefined ? parseTarget(body["target"]) : undefined;
    const p = principal(ctx);
    await mayEdit(p, reconciler.namespace, "a dry run");
    const reader = liveReader(operator, deps.mode.auth, p);
    // One compile and one load per dry run: the reconcile and the admission verdict share them.
    const common = { compiler: operator.compiler, sandbox: operator.sandbox, files, host: EDITOR_HOST, compileOptions: EDITOR };
    const inTrial = <T>(run: (trial: Trial) => Promise<T>): Promise<T> => inLane(ctx, lane, personOf(p), undefined, () => withTrial(common, run));

    if (yaml !== undefined) {
      const resource = parsePasted(yaml);
      const ns = (resource as KubeObject | null)?.metadata?.namespace ?? "default";
      ctx.body = await inTrial(async (trial) => {
        const res = toResponse(await dryRun({ ...common, trial, resource, read: bridgeReads(reader, typeof ns === "string" ? ns : "default") }));
        const admission = await admissionOf({ ...common, trial }, "CREATE", resource);
        if (admission) res.admission = admission;
        return res;
      });
      return;
    }

    const t = target!;
    const seen: { live?: KubeObject; owns?: KindRef[] } = {};
    const res = await inTrial(async (trial) => {
      const res = toResponse(await dryRun({
        ...common,
        trial,
        resource: undefined,
        target: async (kinds) => {
          const live = await reader.get(kinds.for, t.name, t.namespace);
          if (!live) throw new ApiError(404, "NotFound", `${kinds.for.kind} ${t.namespace}/${t.name} does not exist`);
          seen.live = live;
          seen.owns = kinds.owns;
          return live;
        },
        read: bridgeReads(reader, t.namespace),
      }));
      const admission = seen.live ? await admissionOf({ ...common, trial }, "UPDATE", seen.live) : undefined;
      if (admission) res.admission = admission;
      return res;
    });
    const live = seen.live;
    if (!live) {
      // The source did not compile or load: its diagnostics are the answer.
      ctx.body = res;
      return;
    }
    const uid = live.metadata.uid;
    const children: unknown[] = [];
    if (uid) {
      for (const kind of seen.owns ?? []) {
        // A kind the person may not list is left out of the diff rather than failing the run.
        const owned = await reader.list(kind, t.namespace, { [ownerLabel]: uid }).catch(() => []);
        for (const o of owned) children.push({ ...o, apiVersion: kind.apiVersion, kind: kind.kind });
      }
    }
    res.live = live["status"] === undefined ? { children } : { children, status: live["status"] };
    ctx.body = res;
  });

  return router;
}

/** What the source's validate/mutate say about `object`; undefined when it has neither (or does not compile: the dry run says why). */
async function admissionOf(common: { compiler: Compiler; sandbox: Operator["sandbox"]; files: Record<string, string>; host: string; compileOptions: typeof EDITOR; trial: Trial }, operation: "CREATE" | "UPDATE", object: unknown): Promise<DryRunResponse["admission"]> {
  const r = await admissionDryRun({ ...common, operation, object, ...(operation === "UPDATE" ? { oldObject: object } : {}) });
  if (r.error === NO_ADMISSION || r.diagnostics.some((d) => d.severity === "error")) return undefined;
  const out: NonNullable<DryRunResponse["admission"]> = { operation, allowed: r.allowed, object };
  if (r.mutate) out.mutate = r.mutate;
  if (r.validate) out.validate = r.validate;
  if (r.error !== undefined) out.error = r.error;
  return out;
}

function toResponse(r: Awaited<ReturnType<typeof dryRun>>): DryRunResponse {
  const res: DryRunResponse = { ok: r.ok, diagnostics: r.diagnostics, children: r.children, logs: r.logs, events: r.events, durationMs: r.durationMs };
  if (r.status !== undefined) res.status = r.status;
  if (r.requeueAfterSeconds !== undefined) res.requeueAfterSeconds = r.requeueAfterSeconds;
  if (r.error !== undefined) res.error = r.error;
  return res;
}
