/**
 * An in-memory stand-in for the Chakrator server, for the UI's browser tests: the
 * REST routes and WebSocket messages of protocol.ts, served beside ui/dist. It tests
 * the UI, not the server: no Kubernetes, no compiler. Markers in the source drive the
 * interesting answers: `TYPE_ERROR` -> a validate diagnostic, `COMPILE_ERROR` -> 422
 * on save unless forced. Every write is recorded for the tests to inspect.
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import type {
  Diagnostic,
  DryRunRequest,
  DryRunResponse,
  LogRecord,
  ReconcilerSource,
  Revision,
  RollbackRequest,
  SaveRequest,
  Session,
  StreamMessage,
} from "../src/protocol.ts";

interface FakeReconciler {
  namespace: string;
  name: string;
  files: Record<string, string>;
  resourceVersion: number;
  revisions: Revision[];
  canUpdate: boolean;
  /** false: GET of the source is refused (403), as the API server would without RBAC. */
  canRead: boolean;
  rejected?: Diagnostic[];
}

/** The seed source the fake serves. */
export const SEED = `import type { Reconciler, Resource } from "chakrator";

interface MyResource extends Resource {
  spec: { message: string };
}

export default {
  for: { apiVersion: "example.com/v1", kind: "MyResource" },
  owns: [{ apiVersion: "v1", kind: "ConfigMap" }],
  reconcile(res: MyResource, ctx) {
    ctx.log.info("reconciling", { name: res.metadata.name });
    return {
      children: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: \`\${res.metadata.name}-message\` },
          data: { message: res.spec.message },
        },
      ],
      status: { message: res.spec.message.toUpperCase() },
      requeueAfterSeconds: 300,
    };
  },
} satisfies Reconciler<MyResource>;
`;

const LIB = `export const labels = { app: "demo" };\n`;

/** The fake server, its state, and what it was sent. */
export class FakeServer {
  auth: "off" | "token" = "off";
  signedIn = false;
  reconcilers = new Map<string, FakeReconciler>();
  puts: Array<{ key: string; body: SaveRequest }> = [];
  rollbacks: Array<{ key: string; body: RollbackRequest }> = [];
  dryRuns: DryRunRequest[] = [];
  validations = 0;
  /** Answer this many validations of a source holding `BUSY` 429 with `Retry-After: busyRetryAfter` first. */
  busyValidations = 0;
  /** Answer this many dry runs 429 with `Retry-After: busyRetryAfter` first. */
  busyDryRuns = 0;
  busyRetryAfter = 1;
  /** The `reconciler` field of each validation. */
  validatedFor: Array<{ namespace: string; name: string } | undefined> = [];
  /** WebSocket upgrade attempts on /api/logs. */
  upgrades = 0;
  /** Refuse every upgrade with this status (e.g. 503: the operator restarting). */
  upgradeStatus: number | undefined;
  /** Overrides the `live` part of dry-run answers for a target. */
  dryRunLive: DryRunResponse["live"] | undefined;
  /** The `admission` part of dry-run answers (what validate and mutate said). */
  dryRunAdmission: DryRunResponse["admission"] | undefined;
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private sockets = new Set<WebSocket>();
  private seq = 0;
  readonly dist: string;

  constructor(dist: string) {
    this.dist = dist;
    this.reset();
  }

  /** Back to one reconciler, auth off, nothing recorded. */
  reset(): void {
    this.auth = "off";
    this.signedIn = false;
    this.puts = [];
    this.rollbacks = [];
    this.dryRuns = [];
    this.validations = 0;
    this.busyValidations = 0;
    this.busyDryRuns = 0;
    this.busyRetryAfter = 1;
    this.validatedFor = [];
    this.upgrades = 0;
    this.upgradeStatus = undefined;
    this.dryRunLive = undefined;
    this.dryRunAdmission = undefined;
    this.reconcilers.clear();
    const files = { "reconciler.ts": SEED, "lib.ts": LIB };
    this.reconcilers.set("default/message", {
      namespace: "default",
      name: "message",
      files,
      resourceVersion: 100,
      canUpdate: true,
      canRead: true,
      revisions: [
        { number: 1, hash: "a1b2c3d4e5f6", name: "message-rev-1", createdAt: new Date(Date.now() - 3600_000).toISOString(), files: { "reconciler.ts": SEED.replace("toUpperCase()", "toLowerCase()"), "lib.ts": LIB }, active: false },
        { number: 2, hash: "f6e5d4c3b2a1", name: "message-rev-2", createdAt: new Date(Date.now() - 60_000).toISOString(), files, active: true },
      ],
    });
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}/`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: unknown) => send(res, 500, { error: { status: 500, reason: "Internal", message: String(err) } })));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on("upgrade", (req, socket, head) => {
      if (!req.url?.startsWith("/api/logs")) return socket.destroy();
      this.upgrades++;
      // Like the real server: refused before the upgrade, with a plain HTTP answer.
      const refuse = (status: number, reason: string): void => {
        socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        socket.destroy();
      };
      if (this.upgradeStatus) return refuse(this.upgradeStatus, "Refused");
      if (this.auth === "token" && !this.signedIn) return refuse(401, "Unauthorized");
      if (![...this.reconcilers.values()].some((r) => r.canRead)) return refuse(403, "Forbidden");
      this.wss?.handleUpgrade(req, socket, head, (ws) => {
        this.sockets.add(ws);
        ws.on("close", () => this.sockets.delete(ws));
        ws.send(JSON.stringify({ type: "hello", replayed: 0, auth: this.auth } satisfies StreamMessage));
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss?.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Sends a stream message to every connected client. */
  push(msg: StreamMessage): void {
    const text = JSON.stringify(msg);
    for (const ws of this.sockets) ws.send(text);
  }

  /** Closes every WebSocket client's connection (a lost connection). */
  dropClients(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  /** How many WebSocket clients are connected. */
  get clients(): number {
    return this.sockets.size;
  }

  /** Pushes a log record (seq and time filled in). */
  log(r: Partial<LogRecord> & { message: string }): void {
    this.push({ type: "log", record: { seq: ++this.seq, time: new Date().toISOString(), level: "info", ...r } });
  }

  /** An edit made outside the editor (kubectl edit): new files, new resourceVersion, a notice. */
  outsideEdit(key: string, files: Record<string, string>): string {
    const r = this.must(key);
    r.files = files;
    r.resourceVersion++;
    this.push({ type: "notice", notice: { type: "source-changed", reconciler: key, resourceVersion: String(r.resourceVersion), by: "kubectl" } });
    return String(r.resourceVersion);
  }

  private must(key: string): FakeReconciler {
    const r = this.reconcilers.get(key);
    if (!r) throw new Error(`no reconciler ${key}`);
    return r;
  }

  private source(r: FakeReconciler): ReconcilerSource {
    const active = r.revisions.find((v) => v.active);
    const src: ReconcilerSource = {
      namespace: r.namespace,
      name: r.name,
      resourceVersion: String(r.resourceVersion),
      counts: { reconciles: 12, errors: 0 },
      permissions: { update: r.canUpdate, create: r.canUpdate },
      files: r.files,
    };
    if (active) {
      src.active = { number: active.number, hash: active.hash, for: { apiVersion: "example.com/v1", kind: "MyResource" }, owns: [{ apiVersion: "v1", kind: "ConfigMap" }], hasFinalize: false, acceptedAt: active.createdAt };
    }
    if (r.rejected) src.lastRejection = { hash: "badbadbad", resourceVersion: String(r.resourceVersion), at: new Date().toISOString(), diagnostics: r.rejected };
    return src;
  }

  private write(key: string, r: FakeReconciler, files: Record<string, string>): string {
    r.files = files;
    r.resourceVersion++;
    // Like the real server, the watch echoes our own save as a notice.
    setTimeout(() => this.push({ type: "notice", notice: { type: "source-changed", reconciler: key, resourceVersion: String(r.resourceVersion) } }), 5);
    return String(r.resourceVersion);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const p = url.pathname;
    const body = req.method === "GET" ? undefined : await readJson(req);
    if (!p.startsWith("/api/")) return this.serveStatic(p, res);
    if (p === "/api/session") {
      if (req.method === "POST") {
        if ((body as { token?: string }).token !== "good-token") return send(res, 401, { error: { status: 401, reason: "Unauthorized", message: "TokenReview: token not authenticated" } });
        this.signedIn = true;
      } else if (req.method === "DELETE") this.signedIn = false;
      const s: Session = { auth: this.auth, signedIn: this.auth === "off" || this.signedIn };
      if (s.signedIn && this.auth === "token") s.user = { username: "alice", groups: [] };
      return send(res, 200, s);
    }
    if (this.auth === "token" && !this.signedIn) return send(res, 401, { error: { status: 401, reason: "Unauthorized", message: "sign in first" } });
    if (p === "/api/reconcilers") {
      const items = [...this.reconcilers.values()].map((r) => {
        const { files: _files, ...summary } = this.source(r);
        return summary;
      });
      return send(res, 200, { items });
    }
    if (p === "/api/validate") {
      this.validations++;
      this.validatedFor.push((body as { reconciler?: { namespace: string; name: string } }).reconciler);
      if (this.busyValidations > 0 && Object.values((body as { files: Record<string, string> }).files).some((t) => t.includes("BUSY"))) {
        this.busyValidations--;
        res.setHeader("retry-after", String(this.busyRetryAfter));
        return send(res, 429, { error: { status: 429, reason: "TooManyRequests", message: "validation is busy" } });
      }
      const files = (body as { files: Record<string, string> }).files;
      return send(res, 200, { ok: true, hash: "h", diagnostics: markers(files, "TYPE_ERROR"), durationMs: 3 });
    }
    if (p === "/api/dry-run") {
      const dr = body as DryRunRequest;
      this.dryRuns.push(dr);
      if (this.busyDryRuns > 0) {
        this.busyDryRuns--;
        res.setHeader("retry-after", String(this.busyRetryAfter));
        return send(res, 429, { error: { status: 429, reason: "TooManyRequests", message: "dry runs are busy" } });
      }
      const name = dr.target?.name ?? "pasted";
      const out: DryRunResponse = {
        ok: true, diagnostics: [], durationMs: 7, requeueAfterSeconds: 300, logs: [{ level: "info", message: "reconciling", fields: { name } }], events: [],
        children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${name}-message` }, data: { message: "HELLO" } }],
        status: { message: "HELLO" },
      };
      if (this.dryRunAdmission) out.admission = this.dryRunAdmission;
      if (dr.target && this.dryRunLive) out.live = this.dryRunLive;
      else if (dr.target) out.live = { children: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${name}-message` }, data: { message: "hello" } }], status: { message: "hello" } };
      return send(res, 200, out);
    }
    const m = /^\/api\/reconcilers\/([^/]+)\/([^/]+)(\/[a-z-]+)?$/.exec(p);
    const key = m ? `${decodeURIComponent(m[1] ?? "")}/${decodeURIComponent(m[2] ?? "")}` : "";
    const r = this.reconcilers.get(key);
    if (!m || !r) return send(res, 404, { error: { status: 404, reason: "NotFound", message: `not found: ${p}` } });
    const sub = m[3] ?? "";
    if (!r.canRead && (sub === "" || sub === "/revisions")) {
      return send(res, 403, { error: { status: 403, reason: "Forbidden", message: `configmaps "${r.name}" is forbidden: User "bob" cannot get resource "configmaps" in API group "" in the namespace "${r.namespace}"` } });
    }
    if (sub === "" && req.method === "GET") return send(res, 200, this.source(r));
    if (sub === "" && req.method === "PUT") {
      const save = body as SaveRequest;
      this.puts.push({ key, body: save });
      if (save.resourceVersion !== String(r.resourceVersion)) {
        return send(res, 409, { error: { status: 409, reason: "Conflict", message: "the ConfigMap changed since it was loaded" }, current: { files: r.files, resourceVersion: String(r.resourceVersion) } });
      }
      const diags = markers(save.files, "COMPILE_ERROR");
      if (diags.length && !save.force) return send(res, 422, { error: { status: 422, reason: "Invalid", message: "the source does not compile", diagnostics: diags } });
      return send(res, 200, { resourceVersion: this.write(key, r, save.files) });
    }
    if (sub === "/revisions") return send(res, 200, { items: r.revisions });
    if (sub === "/resources") return send(res, 200, { items: [{ apiVersion: "example.com/v1", kind: "MyResource", namespace: "default", name: "demo" }, { apiVersion: "example.com/v1", kind: "MyResource", namespace: "default", name: "other" }] });
    if (sub === "/rollback") {
      const rb = body as RollbackRequest;
      this.rollbacks.push({ key, body: rb });
      if (rb.resourceVersion !== String(r.resourceVersion)) return send(res, 409, { error: { status: 409, reason: "Conflict", message: "stale" }, current: { files: r.files, resourceVersion: String(r.resourceVersion) } });
      const rev = r.revisions.find((v) => v.number === rb.revision);
      if (!rev) return send(res, 404, { error: { status: 404, reason: "NotFound", message: "no such revision" } });
      return send(res, 200, { resourceVersion: this.write(key, r, rev.files) });
    }
    return send(res, 404, { error: { status: 404, reason: "NotFound", message: p } });
  }

  private async serveStatic(p: string, res: ServerResponse): Promise<void> {
    const rel = normalize(p === "/" ? "/index.html" : p).replace(/^(\.\.[/\\])+/, "");
    try {
      const data = await readFile(join(this.dist, rel));
      const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".map": "application/json", ".css": "text/css" };
      res.writeHead(200, { "content-type": types[extname(rel)] ?? "application/octet-stream" });
      res.end(data);
    } catch {
      res.writeHead(404).end();
    }
  }
}

/** A diagnostic at each occurrence of `marker` in any file. */
function markers(files: Record<string, string>, marker: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [file, text] of Object.entries(files)) {
    text.split("\n").forEach((line, i) => {
      const col = line.indexOf(marker);
      if (col >= 0) out.push({ file, line: i + 1, column: col + 1, message: `Cannot find name '${marker}'.`, code: 2304, severity: "error" });
    });
  }
  return out;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
