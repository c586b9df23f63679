/**
 * The log stream: WebSocket `/api/logs` (protocol.ts `StreamMessage`/`ClientMessage`).
 *
 * Upgrades are checked in the HTTP `upgrade` handler, before `ws` accepts them: the
 * Origin (origin.ts) and the token (auth.ts), by the same rules as the REST API. As in
 * Vite's WebSocket server, this must happen before the upgrade, because browsers let
 * any web page open a WebSocket to any host, and the handshake carries the person's
 * cookies: a check after accepting would already have handed a cross-site page a live
 * socket. A refused upgrade gets a plain HTTP 401/403 response and the socket is
 * destroyed.
 *
 * Who sees what: a reconciler's records and notices go only to people who may read its
 * ConfigMap (`get configmaps` in its namespace, or on that ConfigMap by name;
 * SelfSubjectAccessReview, cached), the same rule as the reconciler list and the same
 * people who could read its source with kubectl; operator-wide records (no reconciler)
 * go to every admitted client. An upgrade is refused with 403 when the person may read
 * none of the reconcilers (or, with no reconciler yet, may not list ConfigMaps
 * cluster-wide). With auth off everything is visible.
 *
 * On connect a client gets `hello`, then the last N records matching its filter
 * (`replay`, default 200, max 2000), then live records and notices.
 *
 * Slow clients: each client has its own `BoundedSubscription` (capacity 1000 by
 * default). Records are sent only while the socket's `bufferedAmount` is under a high
 * water mark; above it the pump waits for the socket to drain (ws send callbacks, plus
 * a timer). Meanwhile the subscription keeps only the newest records and counts the
 * ones it dropped; the client gets `{type:"dropped", count}` before the next records. So
 * a stalled client costs bounded memory and never slows the log bus, the operator or
 * other clients. Notices (a few, important) go first, from a queue of at most 100.
 *
 * Pings every `heartbeatMs`; a client that misses a pong is terminated. Invalid client
 * messages are ignored; after 5 the socket is closed with 1008.
 *
 * An open stream's token is checked again every `recheckMs` (default 60 s; TokenReview
 * answers are cached 30 s, so a revoked or expired token is noticed within 90 s): when
 * the API server no longer accepts it, the stream is closed with 1008 "token no longer
 * valid" (the editor then finds itself signed out and shows the sign-in). A failed
 * check (API server down, review budget) keeps the stream open until the next one.
 *
 * Caps: at most `maxPendingUpgrades` upgrades (default 32) are being checked at once
 * and at most `maxClients` streams (default 256) are open; beyond, an upgrade gets 503
 * with Retry-After before any TokenReview. A TokenReview budget refusal (auth.ts) is a
 * 429.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { relayPeer } from "../kube/tokens.ts";
import { parseLogLevel, type LogBus, type LogFilter } from "../telemetry/log.ts";
import { BoundedSubscription } from "../telemetry/subscription.ts";
import type { Notice, NoticeChannel } from "../telemetry/notices.ts";
import type { Permissions } from "./access.ts";
import { principalOf, ReviewBudgetError, type AuthMode, type Principal, type RequestInfo } from "./auth.ts";
import { originProblem, type OriginPolicy } from "./origin.ts";
import type { ClientMessage, StreamMessage } from "./protocol.ts";

/** Tunables of the log stream. */
export interface LogStreamOptions {
  /** Records buffered per client before the oldest are dropped. Default 1000. */
  capacity?: number;
  /** Bytes queued on a socket above which sending pauses. Default 1 MiB. */
  highWaterBytes?: number;
  /** Ping interval. Default 30 s. */
  heartbeatMs?: number;
  /** Upgrades being checked (Origin, token, access) at once; beyond, 503 at once. Default 32. */
  maxPendingUpgrades?: number;
  /** Open log streams; beyond, upgrades get 503. Default 256. */
  maxClients?: number;
  /** How often an open stream's token is checked again (auth token). Default 60 s. */
  recheckMs?: number;
}

/** The running log stream; `close()` closes every client with 1001. */
export interface LogStream {
  readonly clients: number;
  close(): void;
}

const PATH = "/api/logs";
const MAX_INVALID = 5;

/** The filter and replay count of an upgrade URL's query; unknown levels are ignored. */
export function parseStreamQuery(url: URL): { filter: LogFilter; replay: number } {
  const q = url.searchParams;
  const filter: LogFilter = {};
  const reconciler = q.get("reconciler");
  if (reconciler) filter.reconciler = reconciler;
  const resource = q.get("resource");
  if (resource) filter.resource = resource;
  const level = parseLogLevel(q.get("level") ?? undefined);
  if (level) filter.level = level;
  const text = q.get("text");
  if (text) filter.text = text;
  const n = Number(q.get("replay") ?? "200");
  const replay = Number.isFinite(n) ? Math.min(2000, Math.max(0, Math.floor(n))) : 200;
  return { filter, replay };
}

function parseClientFilter(raw: RawData): LogFilter | undefined {
  let msg: ClientMessage;
  try {
    msg = JSON.parse(raw.toString()) as ClientMessage;
  } catch {
    return undefined;
  }
  if (typeof msg !== "object" || msg === null || msg.type !== "filter" || typeof msg.filter !== "object" || msg.filter === null) return undefined;
  const f = msg.filter as Record<string, unknown>;
  const filter: LogFilter = {};
  for (const key of ["reconciler", "resource", "text"] as const) {
    const v = f[key];
    if (v === undefined || v === null || v === "") continue;
    if (typeof v !== "string") return undefined;
    filter[key] = v;
  }
  if (f["level"] !== undefined && f["level"] !== null && f["level"] !== "") {
    const level = parseLogLevel(typeof f["level"] === "string" ? f["level"] : undefined);
    if (!level) return undefined;
    filter.level = level;
  }
  return filter;
}

function refuse(socket: Duplex, status: 401 | 403 | 404 | 429 | 503, reason: string, message: string, retryAfterSeconds?: number): void {
  const body = JSON.stringify({ error: { status, reason, message } });
  const retry = retryAfterSeconds === undefined ? "" : `Retry-After: ${retryAfterSeconds}\r\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n${retry}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.destroy();
}

/** Which reconcilers' records a person may see; answers synchronously from what it has checked. */
class Visibility {
  readonly #permissions: Permissions | undefined;
  readonly #principal: Principal;
  readonly #reconcilers = new Map<string, { allowed: boolean; checked: number }>();

  /** Without `permissions` (auth off) everything is visible. */
  constructor(permissions: Permissions | undefined, principal: Principal) {
    this.#permissions = permissions;
    this.#principal = principal;
  }

  /** Checks `reconcilers` ("namespace/name"); resolves to how many are readable. */
  async check(reconcilers: string[]): Promise<number> {
    const results = await Promise.all(reconcilers.map((key) => this.#refresh(key)));
    return results.filter(Boolean).length;
  }

  /** Whether a record or notice of `reconciler` ("namespace/name") may be sent now. */
  allows(reconciler: string | undefined): boolean {
    if (!this.#permissions || reconciler === undefined) return true;
    const known = this.#reconcilers.get(reconciler);
    // Unknown or stale: re-check in the background; until then, unknown means hidden.
    if (!known || Date.now() - known.checked > 30_000) void this.#refresh(reconciler);
    return known?.allowed ?? false;
  }

  async #refresh(key: string): Promise<boolean> {
    let allowed = true;
    if (this.#permissions) {
      const slash = key.indexOf("/");
      const ns = key.slice(0, Math.max(0, slash));
      const name = slash < 0 ? "" : key.slice(slash + 1);
      // The reconciler list's rule (access.ts): get on the namespace's ConfigMaps, or on this one.
      allowed = name === "" ? await this.#permissions.may(this.#principal, "get", ns) : await this.#permissions.mayRead(this.#principal, ns, name);
    }
    if (this.#reconcilers.size > 10_000) this.#reconcilers.clear();
    this.#reconcilers.set(key, { allowed, checked: Date.now() });
    return allowed;
  }
}

/** One connected client: its subscription, notice queue and send pump. */
class StreamClient {
  readonly #ws: WebSocket;
  readonly #bus: LogBus;
  readonly #capacity: number;
  readonly #highWater: number;
  readonly #notices: Notice[] = [];
  readonly #unsubscribeNotices: () => void;
  readonly #visible: Visibility;
  #sub: BoundedSubscription;
  #waiting = false;
  #pumping = false;
  #noticesDropped = 0;
  #invalid = 0;
  #alive = true;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(ws: WebSocket, bus: LogBus, notices: NoticeChannel, visible: Visibility, filter: LogFilter, replay: number, auth: "off" | "token", o: Required<LogStreamOptions>) {
    this.#ws = ws;
    this.#visible = visible;
    this.#bus = bus;
    this.#capacity = o.capacity;
    this.#highWater = o.highWaterBytes;
    // recent() and the subscription are taken in one synchronous step: no record falls between them.
    const backlog = replay > 0 ? bus.recent(filter, 2000).filter((r) => visible.allows(r.reconciler)).slice(-replay) : [];
    this.#sub = this.#subscribe(filter);
    this.#unsubscribeNotices = notices.subscribe((n) => {
      if (!this.#visible.allows(n.reconciler)) return;
      if (this.#notices.length >= 100) { this.#notices.shift(); this.#noticesDropped++; }
      this.#notices.push(n);
      this.#schedule();
    });
    this.#send({ type: "hello", replayed: backlog.length, auth });
    for (const record of backlog) this.#send({ type: "log", record });
    ws.on("message", (raw) => this.#onMessage(raw));
    ws.on("pong", () => { this.#alive = true; });
    ws.on("close", () => this.dispose());
    ws.on("error", () => this.dispose());
    this.#schedule();
  }

  #subscribe(filter: LogFilter): BoundedSubscription {
    return new BoundedSubscription(this.#bus, filter, { capacity: this.#capacity, onReadable: () => this.#schedule() });
  }

  /** Pings; returns false when the previous ping got no pong (the caller terminates). */
  heartbeat(): boolean {
    if (!this.#alive) return false;
    this.#alive = false;
    this.#ws.ping();
    return true;
  }

  dispose(): void {
    this.#sub.close();
    this.#unsubscribeNotices();
    clearTimeout(this.#drainTimer);
  }

  #onMessage(raw: RawData): void {
    const filter = parseClientFilter(raw);
    if (!filter) {
      if (++this.#invalid >= MAX_INVALID) this.#ws.close(1008, "too many invalid messages");
      return;
    }
    // Records buffered under the old filter are dropped with it; the new filter applies from now on.
    this.#sub.close();
    this.#sub = this.#subscribe(filter);
  }

  #send(msg: StreamMessage): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify(msg), () => this.#onWritten());
  }

  #onWritten(): void {
    if (this.#waiting && this.#ws.bufferedAmount < this.#highWater / 2) {
      this.#waiting = false;
      clearTimeout(this.#drainTimer);
      this.#schedule();
    }
  }

  /** Runs the pump soon, outside the log bus's call stack (log() must never wait on us). */
  #schedule(): void {
    if (this.#pumping || this.#waiting) return;
    this.#pumping = true;
    setImmediate(() => {
      this.#pumping = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#ws.readyState === WebSocket.OPEN) {
      if (this.#ws.bufferedAmount >= this.#highWater) {
        this.#waiting = true;
        // Send callbacks wake us when the socket drains; the timer is a fallback.
        clearTimeout(this.#drainTimer);
        this.#drainTimer = setTimeout(() => { this.#waiting = false; this.#schedule(); }, 250);
        return;
      }
      const notice = this.#notices.shift();
      if (notice) {
        this.#send({ type: "notice", notice });
        continue;
      }
      const { records, dropped } = this.#sub.take(100);
      if (dropped > 0) this.#send({ type: "dropped", count: dropped });
      if (records.length === 0) return;
      for (const record of records) if (this.#visible.allows(record.reconciler)) this.#send({ type: "log", record });
    }
  }
}

/**
 * Serves the log stream on `server`'s upgrades (ws in noServer mode); see the module
 * comment. Upgrades to other paths get a 404.
 */
export function attachLogStream(server: Server, deps: {
  bus: LogBus;
  /** The editor notices pushed beside the records. */
  notices: NoticeChannel;
  mode: AuthMode;
  origins: OriginPolicy;
  permissions: Permissions;
  /** The reconcilers ("namespace/name") there are now. */
  reconcilers: () => string[];
  options?: LogStreamOptions;
}): LogStream {
  const o: Required<LogStreamOptions> = { capacity: 1000, highWaterBytes: 1 << 20, heartbeatMs: 30_000, maxPendingUpgrades: 32, maxClients: 256, recheckMs: 60_000, ...deps.options };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const clients = new Map<WebSocket, StreamClient>();
  /** The upgrade request of each stream, whose token is checked again (auth token). */
  const requests = new Map<WebSocket, RequestInfo>();
  let pending = 0;

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    // Over the caps: refused before any check that costs (TokenReview, SSAR).
    if (pending >= o.maxPendingUpgrades || clients.size + pending >= o.maxClients) {
      return refuse(socket, 503, "ServiceUnavailable", "too many log streams are open or opening; try again later", 5);
    }
    pending++;
    void (async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname !== PATH) return refuse(socket, 404, "NotFound", `no WebSocket at ${url.pathname}`);
      const problem = originProblem(req.headers, deps.origins, true);
      if (problem) return refuse(socket, 403, "Forbidden", problem);
      // A follower replica relaying this leader's records: an audience-bound token of the
      // operator's own ServiceAccount (kube/tokens.ts), reviewed for that audience. It sees
      // every record; the follower's own editors are filtered by their own access.
      const peer = deps.mode.auth === "token" ? await relayPeer(req.headers, deps.mode.operator) : undefined;
      let principal: Principal | undefined = peer ? { client: deps.mode.operator, username: peer.username, groups: [] } : undefined;
      try {
        principal ??= await principalOf(req, deps.mode);
      } catch (err: unknown) {
        if (err instanceof ReviewBudgetError) return refuse(socket, 429, "TooManyRequests", err.message, err.retryAfterSeconds);
        return refuse(socket, 503, "ServiceUnavailable", "could not check the token with the API server");
      }
      if (!principal) return refuse(socket, 401, "Unauthorized", "sign in first: the log stream needs the session cookie or Authorization: Bearer");
      const visible = new Visibility(deps.mode.auth === "token" && !peer ? deps.permissions : undefined, principal);
      if (deps.mode.auth === "token" && !peer) {
        const reconcilers = [...new Set(deps.reconcilers())];
        const readable = reconcilers.length > 0 ? await visible.check(reconcilers) : Number(await deps.permissions.may(principal, "list", undefined));
        if (readable === 0) return refuse(socket, 403, "Forbidden", "you may not read any reconciler's ConfigMap, so there are no logs for you");
      }
      if (socket.destroyed) return;
      const { filter, replay } = parseStreamQuery(url);
      wss.handleUpgrade(req, socket, head, (ws) => {
        clients.set(ws, new StreamClient(ws, deps.bus, deps.notices, visible, filter, replay, deps.mode.auth, o));
        // Not a relay peer: principalOf would review its audience-bound token for the API server's audience and close it.
        if (deps.mode.auth === "token" && !peer) requests.set(ws, { headers: req.headers, socket: req.socket });
        ws.on("close", () => {
          clients.delete(ws);
          requests.delete(ws);
        });
      });
    })().finally(() => pending--);
  });

  const heartbeat = setInterval(() => {
    for (const [ws, client] of clients) if (!client.heartbeat()) ws.terminate();
  }, o.heartbeatMs);
  heartbeat.unref();

  const recheck = setInterval(() => {
    for (const [ws, req] of requests) {
      principalOf(req, deps.mode).then(
        (p) => {
          if (p || ws.readyState !== WebSocket.OPEN) return;
          requests.delete(ws);
          ws.close(1008, "token no longer valid: sign in again");
          setTimeout(() => ws.terminate(), 1_000).unref();
        },
        () => {}, // API server down or budget spent: check again next time
      );
    }
  }, o.recheckMs);
  recheck.unref();

  return {
    get clients() {
      return clients.size;
    },
    close() {
      clearInterval(heartbeat);
      clearInterval(recheck);
      for (const [ws, client] of clients) {
        client.dispose();
        ws.close(1001, "server shutting down");
        // A client that does not answer the close handshake is cut off.
        setTimeout(() => ws.terminate(), 1_000).unref();
      }
      wss.close();
    },
  };
}
