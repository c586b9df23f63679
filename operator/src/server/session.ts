/**
 * Sign-in and sign-out: `GET|POST|DELETE /api/session` (protocol.ts `Session`).
 *
 * These are the only /api routes reachable without a valid token. POST checks the
 * token with a TokenReview and, when it is valid, stores it in the session cookie
 * (HttpOnly, SameSite=Strict, Path=/; over HTTPS `__Host-` and Secure, see auth.ts); the token never comes back
 * in a response body. With auth off, every call answers `{ auth: "off", signedIn: true }`.
 *
 * POST is the one route that reads a body before a token is known: its own parser caps
 * it at `maxBodyBytes` (16 KiB by default; a token is at most 16 KiB). Its TokenReviews
 * are charged to the client address's budget like every other (auth.ts).
 */
import Router from "@koa/router";
import type { Context } from "koa";
import { principalOf, reviewFailure, setSessionCookie, tokenOf, type AuthMode, type Principal } from "./auth.ts";
import { bodyObject, jsonBody, stringField } from "./body.ts";
import { ApiError } from "./errors.ts";
import type { Session } from "./protocol.ts";

function sessionOf(mode: AuthMode, p: Principal | undefined): Session {
  if (mode.auth === "off") return { auth: "off", signedIn: true };
  if (!p) return { auth: "token", signedIn: false };
  return { auth: "token", signedIn: true, user: { username: p.username, groups: p.groups } };
}

async function review(run: () => Promise<Principal | undefined>): Promise<Principal | undefined> {
  try {
    return await run();
  } catch (err: unknown) {
    throw reviewFailure(err);
  }
}

/** The session routes, mounted under /api. */
export function sessionRoutes(mode: AuthMode, options: { maxBodyBytes?: number } = {}): Router {
  const router = new Router({ prefix: "/api" });
  router.get("/session", async (ctx: Context) => {
    ctx.body = sessionOf(mode, await review(() => principalOf(ctx.req, mode)));
  });
  router.post("/session", jsonBody({ maxBytes: options.maxBodyBytes ?? 16 * 1024 }), async (ctx: Context) => {
    if (mode.auth === "off") {
      ctx.body = sessionOf(mode, undefined);
      return;
    }
    const token = stringField(bodyObject(ctx), "token").trim();
    if (token.length > 16_384 || /\s/.test(token)) throw new ApiError(400, "BadRequest", `field "token" is not a bearer token`);
    const p = await review(() => mode.authenticator!.review(token, ctx.req.socket.remoteAddress ?? ""));
    if (!p) throw new ApiError(401, "Unauthorized", "the API server does not accept this token");
    setSessionCookie(ctx, token);
    ctx.body = sessionOf(mode, p);
  });
  router.delete("/session", async (ctx: Context) => {
    const token = tokenOf(ctx.req);
    if (token !== undefined) mode.authenticator?.forget(token);
    if (mode.auth === "token") setSessionCookie(ctx, undefined);
    ctx.body = sessionOf(mode, undefined);
  });
  return router;
}
