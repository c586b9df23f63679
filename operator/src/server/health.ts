/**
 * Probes and metrics outside /api, without auth (kubelet and Prometheus call them):
 * `GET /healthz` (the process serves HTTP), `GET /readyz` (the caller's `ready()`:
 * leadership, synced caches...; 503 with the reasons when not ready) and
 * `GET /metrics` (Prometheus text, when a registry is given). They expose no
 * reconciler data beyond what metrics already carry.
 */
import Router from "@koa/router";
import type { Context } from "koa";
import { ApiError } from "./errors.ts";

/** What the probes read. */
export interface HealthDeps {
  ready?: () => { ready: boolean; reasons: string[] };
  metrics?: { render(): string; contentType: string };
}

/** The probe and metrics routes. */
export function healthRoutes(deps: HealthDeps): Router {
  const router = new Router();
  router.get("/healthz", (ctx: Context) => {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/plain; charset=utf-8";
    ctx.body = "ok\n";
  });
  router.get("/readyz", (ctx: Context) => {
    const r = deps.ready?.() ?? { ready: true, reasons: [] };
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/plain; charset=utf-8";
    ctx.status = r.ready ? 200 : 503;
    ctx.body = r.ready ? "ok\n" : `not ready:\n${r.reasons.map((x) => `- ${x}`).join("\n")}\n`;
  });
  router.get("/metrics", (ctx: Context) => {
    if (!deps.metrics) throw new ApiError(404, "NotFound", "metrics are not enabled");
    ctx.set("Cache-Control", "no-store");
    ctx.type = deps.metrics.contentType;
    ctx.body = deps.metrics.render();
  });
  return router;
}
