/**
 * The bundled UI's static files (`ui/dist` by default).
 *
 * Guarantees:
 * - Only files inside `root` are served: the decoded path is resolved and must stay
 *   under `root` (no `..`, no NUL, no encoded traversal, no dotfiles); symlinks are
 *   followed only if their target is inside `root` too.
 * - Content types come from a fixed table (plus `nosniff`); unknown extensions are
 *   `application/octet-stream`.
 * - Cache headers: names with a content hash (`name-AB12CD34.js`, as esbuild and Vite
 *   emit) are immutable for a year; everything else, index.html first, is `no-cache`
 *   (revalidated each time, so a new UI build shows up at once), with an ETag.
 * - A GET for a path without an extension is the single-page app: index.html.
 * - When `root` has no index.html, a small page says how to build the UI.
 * Only GET and HEAD outside /api reach this middleware; /api is never served from disk.
 */
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { basename, extname, join, resolve, sep } from "node:path";
import type { Context, Next } from "koa";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".txt": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
};

const HASH = /[-.]([A-Za-z0-9_]{8,})\.[a-z0-9]+$/;

/** True for a file name with a content hash: 8+ letters and digits, at least one digit, before the extension. */
export function isHashedName(file: string): boolean {
  const m = HASH.exec(basename(file));
  return m !== null && /\d/.test(m[1] ?? "");
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chakrator</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem">
<h1>Chakrator</h1>
<p>The editor UI is not built. Run <code>npm run build:ui</code> and reload.</p>
<p>The API is up: <a href="/api/session">/api/session</a>, <a href="/healthz">/healthz</a>.</p>
</body></html>
`;

/** The content type served for a file name. */
export function contentTypeOf(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** The file under `root` a URL path names, or undefined when it would escape `root`. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const parts = decoded.split("/").filter((p) => p !== "");
  if (parts.some((p) => p === ".." || p.startsWith("."))) return undefined;
  const base = resolve(root);
  const file = resolve(base, ...parts);
  return file === base || file.startsWith(base + sep) ? file : undefined;
}

async function fileInside(root: string, file: string): Promise<{ path: string; size: number; mtime: Date } | undefined> {
  try {
    const [real, realRoot] = await Promise.all([realpath(file), realpath(root)]);
    if (!real.startsWith(realRoot + sep)) return undefined;
    const s = await stat(real);
    return s.isFile() ? { path: real, size: s.size, mtime: s.mtime } : undefined;
  } catch {
    return undefined;
  }
}

/** Middleware serving the UI from `root`; see the module comment. */
export function staticFiles(root: string) {
  return async function serveStatic(ctx: Context, next: Next): Promise<void> {
    if ((ctx.method !== "GET" && ctx.method !== "HEAD") || ctx.path === "/api" || ctx.path.startsWith("/api/")) return next();
    const requested = ctx.path.endsWith("/") ? `${ctx.path}index.html` : ctx.path;
    const file = resolveInside(root, requested);
    if (file === undefined) return next();
    let found = await fileInside(root, file);
    if (!found && extname(requested) === "") found = await fileInside(root, join(resolve(root), "index.html"));
    if (!found) {
      if (extname(requested) === "" || requested.endsWith("/index.html")) {
        if (!(await fileInside(root, join(resolve(root), "index.html")))) {
          ctx.type = "text/html; charset=utf-8";
          ctx.set("Cache-Control", "no-store");
          ctx.body = NOT_BUILT;
          return;
        }
      }
      return next();
    }
    const etag = `W/"${found.size.toString(16)}-${found.mtime.getTime().toString(16)}"`;
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Cache-Control", isHashedName(found.path) ? "public, max-age=31536000, immutable" : "no-cache");
    ctx.set("ETag", etag);
    ctx.set("Last-Modified", found.mtime.toUTCString());
    ctx.type = contentTypeOf(found.path);
    if (ctx.get("if-none-match") === etag) {
      ctx.status = 304;
      return;
    }
    ctx.length = found.size;
    ctx.body = ctx.method === "HEAD" ? null : createReadStream(found.path);
    if (ctx.method === "HEAD") ctx.status = 200;
  };
}
