/**
 * JSON request bodies: read with a size cap, parsed once, checked field by field.
 *
 * Guarantees:
 * - POST, PUT and PATCH must be `Content-Type: application/json` (415 otherwise; this
 *   is also a CSRF lock, see origin.ts). Other methods' bodies are ignored.
 * - A body over `maxBytes` is refused with 413 as soon as the declared length or the
 *   bytes read pass the cap; nothing beyond the cap is buffered.
 * - Malformed JSON is a 400; the helpers below make a 400 that names the bad field.
 */
import type { Context, Next } from "koa";
import { ApiError } from "./errors.ts";

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Middleware putting the parsed JSON body of writes in `ctx.state.body`. */
export function jsonBody(options: { maxBytes: number }) {
  return async function parseJson(ctx: Context, next: Next): Promise<void> {
    if (!WRITE_METHODS.has(ctx.method)) return next();
    const type = (ctx.get("content-type").split(";")[0] ?? "").trim().toLowerCase();
    if (type !== "application/json") {
      ctx.set("Connection", "close"); // the body is not read
      throw new ApiError(415, "UnsupportedMediaType", `${ctx.method} needs Content-Type: application/json${type ? ` (got ${type})` : ""}`);
    }
    const declared = Number(ctx.get("content-length") || "0");
    if (declared > options.maxBytes) {
      ctx.set("Connection", "close");
      throw new ApiError(413, "PayloadTooLarge", `request body of ${declared} bytes is over the limit of ${options.maxBytes}`);
    }
    const text = await readCapped(ctx, options.maxBytes);
    try {
      ctx.state["body"] = text === "" ? undefined : (JSON.parse(text) as unknown);
    } catch (err: unknown) {
      throw new ApiError(400, "BadRequest", `request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    await next();
  };
}

async function readCapped(ctx: Context, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      // Stop reading; the connection is closed after the 413 so the rest is not parsed as a request.
      ctx.set("Connection", "close");
      throw new ApiError(413, "PayloadTooLarge", `request body is over the limit of ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The parsed body as an object; 400 when it is missing or not an object. */
export function bodyObject(ctx: Context): Record<string, unknown> {
  const body = ctx.state["body"] as unknown;
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ApiError(400, "BadRequest", "request body must be a JSON object");
  return body as Record<string, unknown>;
}

/** `body[field]` as a non-empty string; 400 naming the field otherwise. */
export function stringField(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || v === "") throw new ApiError(400, "BadRequest", `field "${field}" must be a non-empty string`);
  return v;
}

/** `body[field]` as a string when present; 400 when present but not a string. */
export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ApiError(400, "BadRequest", `field "${field}" must be a string`);
  return v;
}

/** `body.files`: an object of string values (ConfigMap data); 400 otherwise. */
export function filesField(body: Record<string, unknown>, field = "files"): Record<string, string> {
  const v = body[field];
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ApiError(400, "BadRequest", `field "${field}" must be an object of file name -> text`);
  const out: Record<string, string> = {};
  for (const [k, text] of Object.entries(v)) {
    if (typeof text !== "string") throw new ApiError(400, "BadRequest", `field "${field}.${k}" must be a string`);
    if (!/^[-._a-zA-Z0-9]+$/.test(k)) throw new ApiError(400, "BadRequest", `field "${field}": "${k}" is not a valid ConfigMap key`);
    out[k] = text;
  }
  return out;
}
