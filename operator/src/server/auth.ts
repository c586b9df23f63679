/**
 * Who is asking: the editor is as safe as kubectl (DESIGN "Auth").
 *
 * With auth "token" a person signs in with a Kubernetes bearer token. The server checks
 * it with a TokenReview (made by the operator), keeps it in an HttpOnly, SameSite=Strict
 * cookie, and every ConfigMap read or write is made with a client that carries only
 * that token (`KubeClient.withToken`), so RBAC and the audit log apply to the person.
 * Scripts may send `Authorization: Bearer <token>` instead of the cookie.
 *
 * Guarantees:
 * - Tokens are never logged; the review cache is keyed by a SHA-256 of the token and
 *   holds results for `ttlMs` (default 30 s; failures 5 s), at most `maxEntries`.
 *   Concurrent requests with one token share one TokenReview.
 * - A request without a valid token gets 401 JSON; the operator's own credentials are
 *   never used on behalf of a signed-in person.
 * - With auth "off" (loopback only, enforced by startServer) every request acts with
 *   the operator's client, and `Session.auth` says so.
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Context, Next } from "koa";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { ApiError } from "./errors.ts";

/** The cookie holding the session's token. */
export const SESSION_COOKIE = "chakrator-session";

/** The identity a request acts with. */
export interface Principal {
  /** Acts as this person (auth "token") or as the operator (auth "off"). */
  client: KubeClient;
  username: string;
  groups: string[];
  /** SHA-256 of the token; undefined with auth off. Safe to use as a cache key. */
  tokenHash?: string;
}

interface Review {
  principal: Principal | undefined;
  expires: number;
}

/** Checks bearer tokens with TokenReview and caches the outcome; see the module comment. */
export class TokenAuthenticator {
  readonly #operator: KubeClient;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #cache = new Map<string, Review>();
  readonly #pending = new Map<string, Promise<Principal | undefined>>();

  constructor(operator: KubeClient, options: { ttlMs?: number; maxEntries?: number } = {}) {
    this.#operator = operator;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#maxEntries = options.maxEntries ?? 1000;
  }

  /**
   * The person behind `token`, or undefined when the API server does not authenticate
   * it. Rejects with `KubeApiError` when the TokenReview itself fails (e.g. the
   * operator may not create TokenReviews, or the API server is down).
   */
  async review(token: string): Promise<Principal | undefined> {
    const key = hashToken(token);
    const hit = this.#cache.get(key);
    if (hit && hit.expires > Date.now()) return hit.principal;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#ask(token, key).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /** Forgets a token (sign-out). */
  forget(token: string): void {
    this.#cache.delete(hashToken(token));
  }

  async #ask(token: string, key: string): Promise<Principal | undefined> {
    const res = await this.#operator.request<{ status?: { authenticated?: boolean; user?: { username?: string; groups?: string[] }; error?: string } }>(
      "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
      { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } },
    );
    const ok = res.status?.authenticated === true;
    const principal: Principal | undefined = ok
      ? { client: await this.#operator.withToken(token), username: res.status?.user?.username ?? "", groups: res.status?.user?.groups ?? [], tokenHash: key }
      : undefined;
    if (this.#cache.size >= this.#maxEntries) {
      // Map keeps insertion order: drop the oldest entry.
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { principal, expires: Date.now() + (ok ? this.#ttlMs : Math.min(this.#ttlMs, 5_000)) });
    return principal;
  }
}

/** SHA-256 hex of a token: a cache key that is not the secret. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The bearer token of a request: `Authorization: Bearer` first, then the session cookie. */
export function tokenFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  for (const part of (headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (value === "") return undefined;
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** True when the request reached us over HTTPS, directly or through a TLS-terminating proxy. */
export function cameOverHttps(ctx: Context): boolean {
  if ((ctx.req.socket as { encrypted?: boolean }).encrypted === true) return true;
  const proto = (ctx.get("x-forwarded-proto").split(",")[0] ?? "").trim().toLowerCase();
  return proto === "https";
}

/** Sets (or, with `token` undefined, clears) the session cookie. */
export function setSessionCookie(ctx: Context, token: string | undefined): void {
  const parts = [
    `${SESSION_COOKIE}=${token === undefined ? "" : encodeURIComponent(token)}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    // The cookie lives no longer than a working day; tokens usually expire sooner.
    token === undefined ? "Max-Age=0" : "Max-Age=43200",
  ];
  if (cameOverHttps(ctx)) parts.push("Secure");
  ctx.append("Set-Cookie", parts.join("; "));
}

/** How the server authenticates, and the operator's own identity for auth "off". */
export interface AuthMode {
  auth: "off" | "token";
  operator: KubeClient;
  authenticator: TokenAuthenticator | undefined;
}

/**
 * The principal of a request from its headers, or undefined when it has no valid token.
 * Shared by the REST middleware and the WebSocket upgrade, so both follow one rule.
 */
export async function principalOf(headers: IncomingHttpHeaders, mode: AuthMode): Promise<Principal | undefined> {
  if (mode.auth === "off") return { client: mode.operator, username: "", groups: [] };
  const token = tokenFromHeaders(headers);
  if (token === undefined || token.length > 16_384) return undefined;
  return mode.authenticator!.review(token);
}

/** Middleware: 401 unless the request carries a valid token; puts the `Principal` in `ctx.state.principal`. */
export function requireAuth(mode: AuthMode) {
  return async function authenticate(ctx: Context, next: Next): Promise<void> {
    let principal: Principal | undefined;
    try {
      principal = await principalOf(ctx.req.headers, mode);
    } catch (err: unknown) {
      throw new ApiError(503, "ServiceUnavailable", "could not check the token with the API server (TokenReview failed); try again", { cause: err instanceof KubeApiError ? err : new Error(String(err)) });
    }
    if (!principal) throw new ApiError(401, "Unauthorized", "sign in with a Kubernetes bearer token (POST /api/session) or send Authorization: Bearer");
    ctx.state["principal"] = principal;
    await next();
  };
}

/** The request's principal (set by `requireAuth`). */
export function principal(ctx: Context): Principal {
  const p = ctx.state["principal"] as Principal | undefined;
  if (!p) throw new ApiError(401, "Unauthorized", "not signed in");
  return p;
}
