/**
 * The editor API's one error path, modelled on Koa's: every failure becomes an
 * `ApiError` JSON body (protocol.ts), and only errors marked `expose` reach the client
 * with their own message.
 *
 * Guarantees:
 * - `ApiError` (ours) and http-errors style errors with `expose: true` (thrown by
 *   @koa/router's allowedMethods) keep their status and message.
 * - A `KubeApiError` with a 4xx status from the API server (403 Forbidden, 404, 409,
 *   422) is passed through with the API server's message: it is about the signed-in
 *   user's own request, exactly what kubectl would print. A network failure or a 5xx is
 *   a 502 with a generic message.
 * - Anything else is a 500 "internal error"; the detail (with its stack) goes to the
 *   LogBus, never to the client. Every 5xx is logged with its cause.
 */
import type { Context, Next } from "koa";
import { KubeApiError } from "../kube/client.ts";
import type { Logger } from "../telemetry/log.ts";
import type { ApiError as ApiErrorBody, Diagnostic } from "./protocol.ts";

/** An error meant for the client: its status, reason and message are sent as `ApiError` JSON. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly reason: string;
  readonly expose = true;
  readonly diagnostics: Diagnostic[] | undefined;
  /** Extra top-level body fields (e.g. `current` of a `SaveConflict`). */
  readonly extra: Record<string, unknown> | undefined;
  /** Sent as the `Retry-After` header (429, 503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, reason: string, message: string, options: { diagnostics?: Diagnostic[]; extra?: Record<string, unknown>; cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.reason = reason;
    this.diagnostics = options.diagnostics;
    this.extra = options.extra;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The JSON body the client receives. */
  toBody(): ApiErrorBody & Record<string, unknown> {
    const error: ApiErrorBody["error"] = { status: this.status, reason: this.reason, message: this.message };
    if (this.diagnostics) error.diagnostics = this.diagnostics;
    return { ...this.extra, error };
  }
}

const REASONS: Record<number, string> = {
  400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
  409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
  500: "InternalError", 501: "NotImplemented", 502: "BadGateway", 503: "ServiceUnavailable",
};

/** The reason word for an HTTP status. */
export function reasonOf(status: number): string {
  return REASONS[status] ?? (status >= 500 ? "InternalError" : "Error");
}

/** The API server's own message, without our client's "METHOD /path: 403 Forbidden: " prefix. */
function kubeMessage(err: KubeApiError): string {
  return err.message.replace(/^[A-Z]+ \S+: \d+ \w+: /, "");
}

/**
 * Maps any thrown value to an `ApiError`. `internal` is true when the detail must stay
 * on the server (the caller logs it).
 */
export function toApiError(err: unknown): { error: ApiError; internal: boolean } {
  if (err instanceof ApiError) return { error: err, internal: false };
  if (err instanceof KubeApiError) {
    if (err.status >= 400 && err.status < 500) {
      // 401 from the API server: the user's token stopped working (expired, revoked).
      const reason = err.reason && err.reason !== "Unknown" ? err.reason : reasonOf(err.status);
      return { error: new ApiError(err.status, reason, kubeMessage(err), { cause: err }), internal: false };
    }
    return { error: new ApiError(502, "BadGateway", "the Kubernetes API server could not be reached or failed; see the operator log", { cause: err }), internal: true };
  }
  if (typeof err === "object" && err !== null) {
    const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
    const status = typeof e.status === "number" ? e.status : typeof e.statusCode === "number" ? e.statusCode : undefined;
    if (status !== undefined && status >= 400 && status < 500 && e.expose === true && typeof e.message === "string") {
      return { error: new ApiError(status, reasonOf(status), e.message, { cause: err }), internal: false };
    }
  }
  return { error: new ApiError(500, "InternalError", "internal error", { cause: err }), internal: true };
}

/** Writes `error` as the response (JSON, no caching). */
export function sendError(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  ctx.set("Cache-Control", "no-store");
  if (error.retryAfterSeconds !== undefined) ctx.set("Retry-After", String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  ctx.body = error.toBody();
  ctx.type = "application/json";
}

/**
 * The outermost middleware: turns every error below it into `ApiError` JSON, logs
 * internal ones to `log` (method, path and the error, never headers or bodies, so no
 * token is ever logged), and answers 404 JSON when nothing handled an /api request.
 */
export function errorHandler(log: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.body === undefined && ctx.status === 404 && !ctx.headerSent) {
        throw new ApiError(404, "NotFound", `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err: unknown) {
      const { error, internal } = toApiError(err);
      // Server-side failures are logged even when their message is meant for the client
      // (e.g. a 503 because the operator may not create TokenReviews): the cause is only here.
      if (internal || error.status >= 500) {
        log.error(`editor API: ${ctx.method} ${ctx.path} failed`, { error: internal ? err : (error.cause ?? err), status: error.status });
      }
      if (ctx.headerSent) return;
      // Headers of a half-built response (a file's type, length, ETag) must not describe the error.
      for (const name of ["content-type", "content-length", "content-disposition", "etag", "last-modified"]) ctx.remove(name);
      sendError(ctx, error);
    }
  };
}
