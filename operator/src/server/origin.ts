/**
 * Cross-site request guards, shared by the REST middleware and the WebSocket upgrade.
 *
 * The session is a SameSite=Strict cookie, which already keeps other sites' requests
 * from carrying it; these checks are the second lock:
 * - A state-changing request (POST, PUT, PATCH, DELETE) with an `Origin` header must
 *   come from an allowed origin: the request's own host, or one of `allowedOrigins`.
 * - POST, PUT and PATCH must be `Content-Type: application/json`, which a cross-site
 *   HTML form cannot send and a cross-site `fetch` can send only after a CORS
 *   preflight, which we never answer (415 otherwise; see body.ts).
 * - With auth off the server listens on loopback only, and a DNS-rebinding page
 *   (evil.example resolving to 127.0.0.1) would be "same host" to the check above; so
 *   with auth off the Host header itself must be a loopback name, as Vite's
 *   `server.allowedHosts` does.
 */
import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIP } from "node:net";
import type { Context, Next } from "koa";
import { ApiError } from "./errors.ts";

/** Options of the origin checks. */
export interface OriginPolicy {
  /** Extra origins allowed besides the request's own host, e.g. "https://editor.example.com". */
  allowedOrigins: readonly string[];
  /** With auth off: only loopback Host headers are served. */
  loopbackHostsOnly: boolean;
}

/** The loopback addresses; BlockList also matches their other spellings (`0:0:0:0:0:0:0:1`, `::ffff:127.0.0.1`). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/**
 * True for a loopback host name or address (without port, IPv6 with or without
 * brackets): `localhost`, 127.0.0.0/8, `::1`, and 127.x mapped into IPv6 (`::ffff:127.x`).
 * The one rule for the listen address (auth "off" is allowed, and the default, only on
 * loopback) and for the Host header with auth off. No other name counts, not even
 * `*.localhost`: what that resolves to is up to the resolver.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost") return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? "ipv4" : "ipv6");
}

/** The host name of a Host header value (drops the port, keeps IPv6 brackets off). */
function hostName(hostHeader: string): string {
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return "";
  }
}

/**
 * Why a request must be refused for its Origin or Host, or undefined when it may pass.
 * `stateChanging` requests need an allowed Origin when one is sent; WebSocket upgrades
 * pass true, since a browser lets any page open a WebSocket to any host.
 */
export function originProblem(headers: IncomingHttpHeaders, policy: OriginPolicy, stateChanging: boolean): string | undefined {
  const host = headers.host ?? "";
  if (policy.loopbackHostsOnly && !isLoopbackHost(hostName(host))) {
    return `host "${host}" is not a loopback name; with auth off the editor only answers to localhost`;
  }
  const origin = headers.origin;
  if (!stateChanging || origin === undefined) return undefined;
  if (policy.allowedOrigins.includes(origin)) return undefined;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `origin "${origin}" is not a URL`;
  }
  if (originHost !== "" && originHost.toLowerCase() === host.toLowerCase()) return undefined;
  return `origin "${origin}" is not allowed (not this server's host "${host}" nor in allowedOrigins)`;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Middleware refusing (403) requests that fail `originProblem`. */
export function originGuard(policy: OriginPolicy) {
  return async function checkOrigin(ctx: Context, next: Next): Promise<void> {
    const problem = originProblem(ctx.req.headers, policy, !SAFE_METHODS.has(ctx.method));
    if (problem) throw new ApiError(403, "Forbidden", problem);
    await next();
  };
}
