/**
 * IntelliSense for the editor: `POST /api/intellisense/<op>`, op one of completions,
 * quickinfo, signature, definition, format. The body is the validation's
 * (`{ reconciler: { namespace, name }, files, file, pos }`, `pos` a UTF-16 offset into
 * `files[file]`); the answer is `{ answer, durationMs }` with the language service's
 * answer (source/language-service.ts), or `answer: null` and `error` when it has none.
 *
 * The language service lives in the compiler process beside the warm compiler, so it
 * sees the same contract, kind typings (the cluster's OpenAPI) and import rule as the
 * type-check. Like validation (run.ts), it is for people who may edit reconcilers
 * (`update configmaps` in the reconciler's namespace, 403 otherwise), waits in the
 * editor lane (429 when full) with the compiler's "editor" lane behind the operator's
 * own work, and a newer request of the same op from the same person for the same
 * reconciler replaces a waiting one (409 `Superseded`): only the newest text counts.
 */
import Router from "@koa/router";
import type { Context } from "koa";
import type { Operator } from "../operator.ts";
import type { LanguageRequest } from "../reconcilers/compile.ts";
import type { Permissions } from "./access.ts";
import { principal, type AuthMode, type Principal } from "./auth.ts";
import { bodyObject, filesField, stringField } from "./body.ts";
import { ApiError } from "./errors.ts";
import { inLane, laneOwner as personOf, type EditorLane } from "./lane.ts";

/** What the routes need (the same as run.ts's). */
export interface IntelliSenseRouteDeps {
  operator: Operator;
  mode: AuthMode;
  permissions: Permissions;
  lane: EditorLane;
}

const OPS = new Set(["completions", "quickinfo", "signature", "definition", "format"]);

/** The IntelliSense routes, mounted under /api. */
export function intellisenseRoutes(deps: IntelliSenseRouteDeps): Router {
  const router = new Router({ prefix: "/api" });

  router.post("/intellisense/:op", async (ctx: Context) => {
    const op = (ctx as Context & { params: Record<string, string> }).params["op"] ?? "";
    if (!OPS.has(op)) throw new ApiError(404, "NotFound", `no IntelliSense request "${op}" (known: ${[...OPS].join(", ")})`);
    const body = bodyObject(ctx);
    const files = filesField(body);
    const file = stringField(body, "file");
    if (!Object.hasOwn(files, file)) throw new ApiError(400, "BadRequest", `field "file": "${file}" is not one of the files`);
    const pos = body["pos"];
    if (op !== "format" && (typeof pos !== "number" || !Number.isInteger(pos) || pos < 0)) throw new ApiError(400, "BadRequest", `field "pos" must be a non-negative integer`);
    const reconciler = reconcilerOf(body);
    const p = principal(ctx);
    if (deps.mode.auth !== "off" && !(await deps.permissions.may(p, "update", reconciler.namespace))) {
      throw new ApiError(403, "Forbidden", `IntelliSense is for people who may edit reconcilers: you may not update configmaps in namespace "${reconciler.namespace}"`);
    }
    const request = (op === "format" ? { op, files, file } : { op, files, file, pos }) as LanguageRequest;
    const person = personOf(p);
    const key = `${person}\n${reconciler.namespace}/${reconciler.name}\nls:${op}`;
    const started = performance.now();
    const answer = await inLane(ctx, deps.lane, person, key, () => deps.operator.compiler.language(request, { lane: "editor" }), "IntelliSense");
    const durationMs = performance.now() - started;
    ctx.body = answer.ok ? { answer: answer.answer, durationMs } : { answer: null, error: answer.error, durationMs };
  });

  return router;
}

function reconcilerOf(body: Record<string, unknown>): { namespace: string; name: string } {
  const v = body["reconciler"];
  const r = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof r["namespace"] !== "string" || r["namespace"] === "" || typeof r["name"] !== "string" || r["name"] === "") {
    throw new ApiError(400, "BadRequest", `field "reconciler" must be { namespace, name } of the reconciler being edited`);
  }
  return { namespace: r["namespace"], name: r["name"] };
}


