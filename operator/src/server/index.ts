/**
 * The editor's server: Koa for the REST API (protocol.ts), the static UI, probes and
 * metrics; ws (noServer) for the log stream. Wiring only; each concern is one factory
 * in its own file:
 *
 *   errors.ts       one error path: ApiError JSON, internal details logged, never sent
 *   headers.ts      security headers
 *   health.ts       /healthz, /readyz (open), /metrics (token allowed get /metrics)
 *   origin.ts       Origin / Host checks (CSRF, DNS rebinding)
 *   static.ts       the bundled UI
 *   body.ts         JSON bodies: 415 unless JSON, 413 over the cap, 400 malformed
 *   session.ts      sign-in / sign-out (the only /api routes without a token)
 *   auth.ts         TokenReview + cookie/bearer -> Principal; 401 otherwise; review budget
 *   reconcilers.ts  source, save, create, revisions, rollback, resources (person's client)
 *   run.ts          validate, dry-run (need update on configmaps), in lane.ts's queue
 *   logstream.ts    WebSocket /api/logs, checked before the upgrade, bounded per client
 *
 * Strangers are refused cheaply: bodies are read only after the token is checked (the
 * sign-in POST is the exception, capped at 16 KiB), a refused request with a body is
 * answered at once and its connection closed unread, connections are capped
 * (`server.maxConnections`: beyond the cap a new socket is closed before any byte is
 * read), headers must arrive within 10 s and the whole request within 30 s.
 *
 * The server reads the operator's state and writes ConfigMaps; it never reaches into
 * the engine's work (README "How it works": data flows one way).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import { fileURLToPath } from "node:url";
import Koa from "koa";
import type { Operator } from "../operator.ts";
import { Permissions } from "./access.ts";
import { principalOf, refuseBody, requireAuth, reviewFailure, TokenAuthenticator, type AuthenticatorOptions, type AuthMode } from "./auth.ts";
import { jsonBody } from "./body.ts";
import { ApiError, errorHandler } from "./errors.ts";
import { securityHeaders } from "./headers.ts";
import { healthRoutes } from "./health.ts";
import { attachLogStream, type LogStreamOptions } from "./logstream.ts";
import { EditorLane, type EditorLaneOptions } from "./lane.ts";
import { isLoopbackHost, originGuard, type OriginPolicy } from "./origin.ts";
import { rbacRoutes } from "./rbac.ts";
import { reconcilerRoutes, type Counts } from "./reconcilers.ts";
import { trySourceRoutes } from "./try-source.ts";
import { intellisenseRoutes } from "./intellisense.ts";
import { sessionRoutes } from "./session.ts";
import { staticFiles } from "./static.ts";

export { ApiError };
export { EDITOR_FIELD_MANAGER } from "./reconcilers.ts";
export { SESSION_COOKIE } from "./auth.ts";
export type { LogStreamOptions } from "./logstream.ts";
export type { AuthenticatorOptions } from "./auth.ts";
export type { EditorLaneOptions } from "./lane.ts";

/** Connection limits; see the module comment. */
export interface ServerLimits {
  /** Open TCP connections, HTTP and WebSocket together; beyond, new ones are closed at once. Default 512. */
  maxConnections?: number;
  /** Time to receive a request's headers. Default 10 s. */
  headersTimeoutMs?: number;
  /** Time to receive a whole request (headers and body). Default 30 s. */
  requestTimeoutMs?: number;
  /** Body cap of POST /api/session, the one body read before a token is checked. Default 16 KiB. */
  sessionBodyBytes?: number;
}

/** What the server needs. */
export interface ServerDeps {
  operator: Operator;
  /** "token": Kubernetes bearer tokens (TokenReview). "off": no sign-in; only on a loopback address. */
  auth: "off" | "token";
  /** Static files to serve; default `<repo>/ui/dist`. When missing, a page says to run `npm run build:ui`. */
  uiDir?: string;
  /** Prometheus registry for /metrics; without it /metrics is 404. */
  metrics?: { render(): string | Promise<string>; contentType: string };
  /** Readiness for /readyz; default always ready. */
  ready?: () => { ready: boolean; reasons: string[] };
  /** Origins allowed besides the request's own host (e.g. behind a proxy on another name). */
  allowedOrigins?: string[];
  /** Request body cap; default 1 MiB. */
  maxBodyBytes?: number;
  /** Reconcile counters per reconciler ("namespace/name"); default zeros. */
  counts?: Counts;
  /** Log stream tunables (per-client buffer, high water mark, heartbeat). */
  logStream?: LogStreamOptions;
  /** Folder of sample reconcilers used as templates; default `<repo>/samples`. */
  samplesDir?: string;
  /** Connection caps and timeouts. */
  limits?: ServerLimits;
  /** TokenReview caches and the per-address review budget (auth.ts). */
  authenticator?: AuthenticatorOptions;
  /** The editor lane's caps (lane.ts). */
  editorLane?: EditorLaneOptions;
}

/** A listening server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** What the server holds now: TokenReviews sent so far, the editor lane, open log streams. */
  stats(): { tokenReviews: number; editor: { running: number; queued: number }; logStreams: number };
  /** Closes log streams (1001), stops accepting, and ends open connections. */
  close(): Promise<void>;
}

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Starts the editor's server on `listen`. Rejects when `auth` is "off" and `host` is not
 * a loopback address (the editor would be open to anyone who can reach it), or when
 * the port cannot be bound.
 */
export async function startServer(deps: ServerDeps, listen: { host: string; port: number }): Promise<RunningServer> {
  if (deps.auth === "off" && !isLoopbackHost(listen.host)) {
    throw new Error(`auth "off" is only allowed on a loopback address (127.0.0.1, ::1, localhost), not "${listen.host}": anyone who can reach it could edit reconcilers with the operator's permissions`);
  }
  const { operator } = deps;
  const mode: AuthMode = {
    auth: deps.auth,
    operator: operator.client,
    authenticator: deps.auth === "token" ? new TokenAuthenticator(operator.client, deps.authenticator) : undefined,
  };
  const origins: OriginPolicy = { allowedOrigins: deps.allowedOrigins ?? [], loopbackHostsOnly: deps.auth === "off" };
  const permissions = new Permissions();
  const counts: Counts = deps.counts ?? (() => ({ reconciles: 0, errors: 0 }));

  const app = new Koa();
  app.silent = true; // errors are answered and logged by errorHandler
  const metricsGuard = async (ctx: Koa.Context): Promise<void> => {
    let p;
    try {
      p = await principalOf(ctx.req, mode);
    } catch (err: unknown) {
      throw refuseBody(ctx, reviewFailure(err));
    }
    if (!p) throw refuseBody(ctx, new ApiError(401, "Unauthorized", "/metrics needs Authorization: Bearer <token> of an identity that may get the non-resource URL /metrics"));
    if (!(await permissions.mayGetUrl(p, "/metrics"))) throw new ApiError(403, "Forbidden", `${p.username || "you"} may not get /metrics (grant nonResourceURLs: ["/metrics"], verbs: ["get"])`);
  };
  const health = healthRoutes({
    ...(deps.ready ? { ready: deps.ready } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.auth === "token" ? { metricsGuard } : {}),
  });
  const limits = { maxConnections: 512, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, sessionBodyBytes: 16 * 1024, ...deps.limits };
  const lane = new EditorLane(deps.editorLane);
  const session = sessionRoutes(mode, { maxBodyBytes: limits.sessionBodyBytes });
  const reconcilers = reconcilerRoutes({ operator, mode, permissions, counts, samplesDir: deps.samplesDir ?? `${REPO}samples` });
  const run = trySourceRoutes({ operator, mode, permissions, lane });
  const intellisense = intellisenseRoutes({ operator, mode, permissions, lane }); // completions, hover, … (intellisense.ts)
  app.use(securityHeaders());
  app.use(errorHandler(operator.log));
  app.use(health.routes());
  app.use(originGuard(origins));
  app.use(staticFiles(deps.uiDir ?? `${REPO}ui/dist`));
  app.use(session.routes()); // POST /api/session parses its own small body
  app.use(session.allowedMethods({ throw: true }));
  app.use(requireAuth(mode)); // before any other body is read
  app.use(jsonBody({ maxBytes: deps.maxBodyBytes ?? 1 << 20 }));
  app.use(reconcilers.routes());
  app.use(reconcilers.allowedMethods({ throw: true }));
  app.use(run.routes());
  app.use(run.allowedMethods({ throw: true }));
  app.use(rbacRoutes({ operator }).routes());
  app.use(intellisense.routes());

  const server = createServer({ headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs }, app.callback());
  server.maxConnections = limits.maxConnections;
  const logs = attachLogStream(server, {
    bus: operator.log,
    notices: operator.notices,
    mode,
    origins,
    permissions,
    reconcilers: () => operator.sources.states().map((s) => `${s.namespace}/${s.name}`),
    ...(deps.logStream ? { options: deps.logStream } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = isIP(address.address) === 6 ? `[${address.address}]` : address.address;
  operator.log.info(`editor listening on http://${host}:${address.port} (auth ${deps.auth})`);

  return {
    url: `http://${host}:${address.port}`,
    stats: () => ({ tokenReviews: mode.authenticator?.reviews ?? 0, editor: lane.stats, logStreams: logs.clients }),
    async close() {
      logs.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(force);
    },
  };
}
