/**
 * Probes and metrics outside /api: `GET /healthz` (the process serves HTTP) and
 * `GET /readyz` (the caller's `ready()`: leadership, synced caches...; 503 with the
 * reasons when not ready) are open, as the kubelet calls them without credentials.
 * `GET /metrics` (Prometheus text, when a registry is given) names every reconciler,
 * so with auth "token" it needs a bearer token (or the session cookie) that may `get`
 * the non-resource URL `/metrics` (SelfSubjectAccessReview with the caller's token, as
 * controller-runtime's secure metrics serving does): 401 without a valid token, 403
 * without the grant. With auth "off" (loopback only) it is open like the rest.
 */
import Router from "@koa/router";
import type { Context } from "koa";
import { ApiError } from "./errors.ts";

/** What the probes read. */
export interface HealthDeps {
  ready?: () => { ready: boolean; reasons: string[] };
  metrics?: { render(): string | Promise<string>; contentType: string };
  /** Throws the 401/403 of a scrape that may not read /metrics; absent: open. */
  metricsGuard?: (ctx: Context) => Promise<void>;
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
  router.get("/metrics", async (ctx: Context) => {
    if (!deps.metrics) throw new ApiError(404, "NotFound", "metrics are not enabled");
    await deps.metricsGuard?.(ctx);
    ctx.set("Cache-Control", "no-store");
    ctx.type = deps.metrics.contentType;
    ctx.body = await deps.metrics.render();
  });
  return router;
}
