/**
 * Response headers every answer carries: no framing by other sites (clickjacking of
 * the editor's Save button), no MIME sniffing, no Referer leaking reconciler names to
 * other sites. API responses are never cached by browsers or proxies.
 *
 * The Content-Security-Policy allows only what the bundled UI uses: scripts from this
 * origin only (no inline script, no eval), connections to this origin and its own
 * WebSocket (`ws://` or `wss://` on the request's host, written out because older
 * browsers do not count ws: as 'self'), styles from this origin plus inline ones (Lit
 * and CodeMirror inject `<style>` and `style=`; the page's theme is an inline
 * `<style>`), images from this origin or `data:`, and nothing else (`default-src
 * 'none'`, no plugins, no `<base>`, forms post only here, no framing).
 */
import type { Context, Next } from "koa";

/** The CSP for a request to `host` (the Host header; a malformed one gets 'self' only). */
export function contentSecurityPolicy(host: string): string {
  const ws = /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? ` ws://${host} wss://${host}` : "";
  return [
    "default-src 'none'",
    "script-src 'self'",
    `connect-src 'self'${ws}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Middleware setting the common security headers; see the module comment. */
export function securityHeaders() {
  return async function setSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    ctx.set("X-Frame-Options", "DENY");
    ctx.set("Content-Security-Policy", contentSecurityPolicy(ctx.get("host")));
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Referrer-Policy", "no-referrer");
    if (ctx.path.startsWith("/api/")) ctx.set("Cache-Control", "no-store");
    await next();
  };
}
