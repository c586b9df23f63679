/**
 * Who is asking: the editor is as safe as kubectl (README "The editor", Security).
 *
 * With auth "token" a person signs in with a Kubernetes bearer token. The server checks
 * it with a TokenReview (made by the operator), keeps it in an HttpOnly, SameSite=Strict
 * cookie, and every ConfigMap read or write is made with a client that carries only
 * that token (`KubeClient.withToken`), so RBAC and the audit log apply to the person.
 * Scripts may send `Authorization: Bearer <token>` instead of the cookie.
 *
 * The cookie: over HTTPS (directly, or behind a proxy that sends X-Forwarded-Proto:
 * https) it is `__Host-chakrator-session` with `Secure`, so the browser sends it only
 * over HTTPS and to this exact host (no Domain, Path=/: a sibling subdomain cannot
 * plant or overwrite it). Over plain HTTP (the loopback editor of `npm start`, or
 * `kubectl port-forward` to localhost) a `__Host-`/`Secure` cookie would not be stored
 * by browsers, so the cookie is `chakrator-session` without `Secure`. Each scheme reads
 * only its own cookie name.
 *
 * Guarantees:
 * - Tokens are never logged; the review caches are keyed by a SHA-256 of the token.
 *   Accepted tokens are kept `ttlMs` (default 30 s), at most `maxEntries` (1000).
 *   Refused tokens are kept `failureTtlMs` (default 10 s) in a cache of their own (at
 *   most `maxFailures`, 10 000), so a flood of random tokens evicts only other random
 *   tokens, never a signed-in person. Concurrent requests with one token share one
 *   TokenReview.
 * - Each client address has a TokenReview budget (a token bucket: `reviewBurst`, default
 *   20, refilled at `reviewsPerSecond`, default 2). Only reviews that reach the API
 *   server are charged: cached tokens, accepted or refused, cost nothing. Beyond the
 *   budget `review` rejects with `ReviewBudgetError` (the routes answer 429 with
 *   Retry-After). Behind a proxy every client shares the proxy's address: raise the
 *   budget there (the address is the TCP peer; X-Forwarded-For is not trusted).
 * - A request without a valid token gets 401 JSON; the operator's own credentials are
 *   never used on behalf of a signed-in person.
 * - With auth "off" (loopback only, enforced by startServer) every request acts with
 *   the operator's client, and `Session.auth` says so.
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Context, Next } from "koa";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { ApiError } from "./errors.ts";

/** The cookie holding the session's token over plain HTTP. */
export const SESSION_COOKIE = "chakrator-session";
/** The cookie holding the session's token over HTTPS. */
export const SECURE_SESSION_COOKIE = "__Host-chakrator-session";

/** What the auth checks read of a request: its headers and its socket (peer address, TLS). */
export type RequestInfo = Pick<IncomingMessage, "headers" | "socket">;

/** The identity a request acts with. */
export interface Principal {
  /** Acts as this person (auth "token") or as the operator (auth "off"). */
  client: KubeClient;
  username: string;
  groups: string[];
  /** SHA-256 of the token; undefined with auth off. Safe to use as a cache key. */
  tokenHash?: string;
}

/** Tunables of `TokenAuthenticator`; see the module comment for the defaults. */
export interface AuthenticatorOptions {
  ttlMs?: number;
  maxEntries?: number;
  failureTtlMs?: number;
  maxFailures?: number;
  reviewBurst?: number;
  reviewsPerSecond?: number;
}

/** A client address spent its TokenReview budget; retry after `retryAfterSeconds`. */
export class ReviewBudgetError extends Error {
  override name = "ReviewBudgetError";
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(`too many new tokens from this address; try again in ${retryAfterSeconds} s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Token buckets per key (client address), at most `maxKeys` (the fullest are dropped first: they are at rest). */
export class TokenBuckets {
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(burst: number, perSecond: number, maxKeys = 10_000) {
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#maxKeys = maxKeys;
  }

  /** Takes one token for `key`: 0 when granted, else the seconds until one is available. */
  take(key: string, now = Date.now()): number {
    let b = this.#buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
      b.at = now;
      // Refresh the insertion order: the least recently used key is dropped first.
      this.#buckets.delete(key);
    } else {
      if (this.#buckets.size >= this.#maxKeys) this.#evict(now);
      b = { tokens: this.#burst, at: now };
    }
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#perSecond));
  }

  #evict(now: number): void {
    // Full buckets carry no state worth keeping; otherwise drop the least recently used.
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#perSecond >= this.#burst) this.#buckets.delete(k);
    }
    if (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
  }
}

/** A Map with expiring entries, at most `max` (the oldest is dropped first). */
class ExpiringCache<V> {
  readonly #max: number;
  readonly #map = new Map<string, { value: V; expires: number }>();
  constructor(max: number) {
    this.#max = max;
  }
  get(key: string, now = Date.now()): V | undefined {
    const hit = this.#map.get(key);
    if (!hit) return undefined;
    if (hit.expires > now) return hit.value;
    this.#map.delete(key);
    return undefined;
  }
  has(key: string, now = Date.now()): boolean {
    return this.get(key, now) !== undefined;
  }
  set(key: string, value: V, ttlMs: number): void {
    this.#map.delete(key);
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { value, expires: Date.now() + ttlMs });
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
  get size(): number {
    return this.#map.size;
  }
}

/** Checks bearer tokens with TokenReview and caches the outcome; see the module comment. */
export class TokenAuthenticator {
  readonly #operator: KubeClient;
  readonly #ttlMs: number;
  readonly #failureTtlMs: number;
  readonly #accepted: ExpiringCache<Principal>;
  readonly #refused: ExpiringCache<true>;
  readonly #budget: TokenBuckets;
  readonly #pending = new Map<string, Promise<Principal | undefined>>();
  /** TokenReviews sent to the API server so far (for tests and metrics). */
  reviews = 0;

  constructor(operator: KubeClient, options: AuthenticatorOptions = {}) {
    this.#operator = operator;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#failureTtlMs = options.failureTtlMs ?? 10_000;
    this.#accepted = new ExpiringCache(options.maxEntries ?? 1000);
    this.#refused = new ExpiringCache(options.maxFailures ?? 10_000);
    this.#budget = new TokenBuckets(options.reviewBurst ?? 20, options.reviewsPerSecond ?? 2);
  }

  /**
   * The person behind `token`, or undefined when the API server does not authenticate
   * it. `address` (the client's) is charged when a TokenReview has to be sent. Rejects
   * with `ReviewBudgetError` when that address is over its budget, and with
   * `KubeApiError` when the TokenReview itself fails (e.g. the operator may not create
   * TokenReviews, or the API server is down).
   */
  async review(token: string, address = ""): Promise<Principal | undefined> {
    const key = hashToken(token);
    const hit = this.#accepted.get(key);
    if (hit) return hit;
    if (this.#refused.has(key)) return undefined;
    let pending = this.#pending.get(key);
    if (!pending) {
      const wait = this.#budget.take(address);
      if (wait > 0) throw new ReviewBudgetError(wait);
      pending = this.#ask(token, key).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /** Forgets a token (sign-out). */
  forget(token: string): void {
    this.#accepted.delete(hashToken(token));
  }

  async #ask(token: string, key: string): Promise<Principal | undefined> {
    this.reviews++;
    const res = await this.#operator.request<{ status?: { authenticated?: boolean; user?: { username?: string; groups?: string[] }; error?: string } }>(
      "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
      { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } } },
    );
    const ok = res.status?.authenticated === true;
    const principal: Principal | undefined = ok
      ? { client: await this.#operator.withToken(token), username: res.status?.user?.username ?? "", groups: res.status?.user?.groups ?? [], tokenHash: key }
      : undefined;
    if (principal) this.#accepted.set(key, principal, this.#ttlMs);
    else this.#refused.set(key, true, this.#failureTtlMs);
    return principal;
  }
}

/** SHA-256 hex of a token: a cache key that is not the secret. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The bearer token of a request: `Authorization: Bearer` first, then the session cookie
 * of the request's scheme (module comment).
 */
export function tokenOf(req: RequestInfo): string | undefined {
  const headers = req.headers;
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  const name = cookieName(req);
  for (const part of (headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
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
export function cameOverHttps(req: RequestInfo): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  const header = req.headers["x-forwarded-proto"];
  const value = Array.isArray(header) ? header[0] : header;
  return ((value ?? "").split(",")[0] ?? "").trim().toLowerCase() === "https";
}

/** The session cookie's name for this request's scheme. */
export function cookieName(req: RequestInfo): string {
  return cameOverHttps(req) ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

/** Sets (or, with `token` undefined, clears) the session cookie. */
export function setSessionCookie(ctx: Context, token: string | undefined): void {
  const secure = cameOverHttps(ctx.req);
  const parts = [
    `${secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE}=${token === undefined ? "" : encodeURIComponent(token)}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    // The cookie lives no longer than a working day; tokens usually expire sooner.
    token === undefined ? "Max-Age=0" : "Max-Age=43200",
  ];
  if (secure) parts.push("Secure");
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
export async function principalOf(req: RequestInfo, mode: AuthMode): Promise<Principal | undefined> {
  if (mode.auth === "off") return { client: mode.operator, username: "", groups: [] };
  const token = tokenOf(req);
  if (token === undefined || token.length > 16_384) return undefined;
  return mode.authenticator!.review(token, req.socket.remoteAddress ?? "");
}

/** The 429 or 503 a failed `principalOf` becomes. */
export function reviewFailure(err: unknown): ApiError {
  if (err instanceof ReviewBudgetError) {
    return new ApiError(429, "TooManyRequests", err.message, { retryAfterSeconds: err.retryAfterSeconds });
  }
  return new ApiError(503, "ServiceUnavailable", "could not check the token with the API server (TokenReview failed); try again", { cause: err instanceof KubeApiError ? err : new Error(String(err)) });
}

/** Middleware: 401 unless the request carries a valid token; puts the `Principal` in `ctx.state.principal`. */
export function requireAuth(mode: AuthMode) {
  return async function authenticate(ctx: Context, next: Next): Promise<void> {
    let principal: Principal | undefined;
    try {
      principal = await principalOf(ctx.req, mode);
    } catch (err: unknown) {
      throw refuseBody(ctx, reviewFailure(err));
    }
    if (!principal) throw refuseBody(ctx, new ApiError(401, "Unauthorized", "sign in with a Kubernetes bearer token (POST /api/session) or send Authorization: Bearer"));
    ctx.state["principal"] = principal;
    await next();
  };
}

/**
 * A refusal of a request whose body was not read: the connection is closed after the
 * answer, so the unread body is never parsed (or drained) by the server.
 */
export function refuseBody(ctx: Context, error: ApiError): ApiError {
  if (hasBody(ctx.req.headers)) ctx.set("Connection", "close");
  return error;
}

/** True when a request announces a body (Content-Length > 0 or chunked). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  if (headers["transfer-encoding"] !== undefined) return true;
  const length = Number(headers["content-length"] ?? "0");
  return !Number.isFinite(length) || length > 0;
}

/** The request's principal (set by `requireAuth`). */
export function principal(ctx: Context): Principal {
  const p = ctx.state["principal"] as Principal | undefined;
  if (!p) throw new ApiError(401, "Unauthorized", "not signed in");
  return p;
}
