/**
 * Response headers every answer carries: no framing by other sites (clickjacking of
 * the editor's Save button), no MIME sniffing, no Referer leaking reconciler names to
 * other sites. API responses are never cached by browsers or proxies.
 */
import type { Context, Next } from "koa";

/** Middleware setting the common security headers; see the module comment. */
export function securityHeaders() {
  return async function setSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    ctx.set("X-Frame-Options", "DENY");
    ctx.set("Content-Security-Policy", "frame-ancestors 'none'");
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Referrer-Policy", "no-referrer");
    if (ctx.path.startsWith("/api/")) ctx.set("Cache-Control", "no-store");
    await next();
  };
}
