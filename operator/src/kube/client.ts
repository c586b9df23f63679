/**
 * The only code that talks to the API server: a small REST client over node:https.
 *
 * Why not the generated clients of `@kubernetes/client-node`: the engine works on
 * arbitrary kinds named by user code, needs server-side apply on any resource and its
 * status subresource, and needs watches it can supervise itself. Credentials come from
 * credentials.ts (in-cluster and plain kubeconfigs read directly, anything else through
 * the library's `KubeConfig`, which also fits `KubeCredentials`), so authentication
 * behaves as kubectl's does.
 *
 * Guarantees:
 * - Every failure is a `KubeApiError` carrying the HTTP status and the API server's
 *   `reason`/`message` (a `Status` object), or status 0 for a network failure.
 * - With `CHAKRATOR_KUBE_HTTP2=1`, plain requests share one HTTP/2 connection per identity
 *   (h2.ts: less client CPU, far more memory under load). HTTP/1.1 connections are kept alive and
 *   bounded (`maxSockets`), so bursts do not open thousands of sockets.
 * - `withToken(token)` gives a client that acts as another identity (the editor's
 *   signed-in user) and carries none of this client's credentials.
 *
 * Why this file is long (~420 lines): it is one request path (prepare → open → exchange,
 * and the streaming watch beside it) with every verb the operator uses on top, and one
 * error model; the pieces that stand alone are elsewhere (credentials.ts, h2.ts,
 * pool-agent.ts, errors.ts).
 */
import type { KubeCredentials } from "./credentials.ts";
import { Agent, request, type RequestOptions } from "node:https";
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from "node:http";
import { createInterface } from "node:readline";
import { H2Pool } from "./h2.ts";
import { PoolAgent, poolName } from "./pool-agent.ts";
import { KubeApiError, statusError } from "./errors.ts";
import type { ObjectMeta } from "../../types/chakrator.d.ts";

export { KubeApiError, isTransient } from "./errors.ts";

/** Object metadata, as the reconciler contract describes it, plus any other field. */
export type KubeMeta = ObjectMeta & { [field: string]: unknown };

/** Any object the API server returns. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMeta;
  [field: string]: unknown;
}

export type OwnerReference = NonNullable<ObjectMeta["ownerReferences"]>[number];

/** A list response. */
export interface KubeList<T = KubeObject> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

/** What discovery says about a kind. */
export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  /** Plural resource name, e.g. `configmaps`. */
  plural: string;
  namespaced: boolean;
}

export interface RequestParams {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Default 30 s; watches pass their own. */
  timeoutMs?: number;
  /** A long-lived streaming request: its own connection, not one of the pool's. */
  watch?: boolean;
  /** The Accept header; default `application/json`. */
  accept?: string;
}

/**
 * Accept headers that ask for objects' metadata only (what client-go's metadata client
 * sends): a list of `PartialObjectMetadata`, and watch events carrying one each.
 */
export const METADATA_ONLY = {
  list: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
  watch: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
} as const;

interface Base {
  server: URL;
  /** `server`'s host name as node:http wants it (an IPv6 address without brackets). */
  hostname: string;
  options: RequestOptions;
  expires: number;
  /** `PoolAgent`'s key for these credentials. */
  pool: string;
}

/** A request ready to go out over either protocol. */
interface Prepared { base: Base; path: string; headers: Record<string, string | string[]>; payload: string | undefined }

interface ClientInit {
  server: string;
  kc?: KubeCredentials;
  token?: string;
  ca?: RequestOptions["ca"];
  agent: Agent | HttpAgent;
  h2?: H2Pool | undefined;
  userAgent: string;
  discovery?: Map<string, Promise<ResourceInfo[]>>;
  impersonate?: { user: string; groups: string[] };
}

/** A client bound to one cluster and one identity. */
export class KubeClient {
  readonly server: string;
  readonly #kc: KubeCredentials | undefined;
  readonly #token: string | undefined;
  readonly #ca: RequestOptions["ca"];
  readonly #agent: Agent | HttpAgent;
  readonly #h2: H2Pool | undefined;
  readonly #userAgent: string;
  readonly #discovery: Map<string, Promise<ResourceInfo[]>>;
  readonly #impersonate: { user: string; groups: string[] } | undefined;
  #base: Base | undefined;

  private constructor(init: ClientInit) {
    this.server = init.server;
    this.#kc = init.kc;
    this.#token = init.token;
    this.#ca = init.ca;
    this.#agent = init.agent;
    this.#h2 = init.h2;
    this.#userAgent = init.userAgent;
    this.#discovery = init.discovery ?? new Map();
    this.#impersonate = init.impersonate;
  }

  /**
   * A client that makes every request as `user` (with `groups`), through Kubernetes
   * impersonation: the API server authorizes each request as that user, and this
   * client's own identity needs only `impersonate` on it. Shares the connection pool
   * (the credentials are the same) and discovery (kinds are no secret).
   */
  impersonating(user: string, groups: readonly string[]): KubeClient {
    const init: ClientInit = {
      server: this.server, agent: this.#agent, h2: this.#h2, userAgent: this.#userAgent, discovery: this.#discovery,
      impersonate: { user, groups: [...groups] },
    };
    if (this.#kc !== undefined) init.kc = this.#kc;
    if (this.#token !== undefined) init.token = this.#token;
    if (this.#ca !== undefined) init.ca = this.#ca;
    return new KubeClient(init);
  }

  /** The user this client impersonates, if it does. */
  get impersonated(): string | undefined {
    return this.#impersonate?.user;
  }

  /** A client with the identity of `kc`'s current context. Throws if it has no cluster. */
  static fromKubeConfig(kc: KubeCredentials, options: { userAgent?: string; maxSockets?: number } = {}): KubeClient {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeApiError(0, "NoCluster", "the kubeconfig has no current cluster");
    const server = cluster.server.replace(/\/$/, "");
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    const https = server.startsWith("https:");
    return new KubeClient({
      server,
      kc,
      agent: https ? new PoolAgent(agentOptions) : new HttpAgent(agentOptions),
      h2: https && process.env.CHAKRATOR_KUBE_HTTP2 === "1" ? new H2Pool() : undefined,
      userAgent: options.userAgent ?? "chakrator",
    });
  }

  /**
   * A client for the same cluster that authenticates only with `token`: nothing of
   * this client's identity (token, client certificate, exec plugin) is carried over.
   */
  async withToken(token: string): Promise<KubeClient> {
    const base = await this.#baseOptions();
    // A separate connection pool: a socket opened with this client's certificate must
    // never carry another identity's request (x509 wins over bearer tokens).
    tokenAgent ??= new PoolAgent({ keepAlive: true, maxSockets: 32 });
    return new KubeClient({ server: this.server, token, ca: base.options.ca, agent: tokenAgent, userAgent: this.#userAgent });
  }

  async #baseOptions(): Promise<Base> {
    if (this.#base && this.#base.expires > Date.now()) return this.#base;
    const options: RequestOptions = { headers: {} };
    if (this.#kc) {
      await this.#kc.applyToHTTPSOptions(options);
    } else {
      options.ca = this.#ca;
      (options.headers as Record<string, string>).authorization = `Bearer ${this.#token ?? ""}`;
    }
    // Re-read credentials each minute: in-cluster tokens rotate on disk.
    const server = new URL(this.server);
    this.#base = { server, hostname: server.hostname.replace(/^\[(.*)\]$/, "$1"), options, expires: Date.now() + 60_000, pool: poolName(server, options) };
    return this.#base;
  }

  async #prepare(method: string, path: string, p: RequestParams): Promise<Prepared> {
    const base = await this.#baseOptions();
    let query = "";
    for (const k in p.query) {
      const v = p.query[k];
      if (v !== undefined) query += `${query ? "&" : "?"}${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`;
    }
    const full = base.server.pathname.replace(/\/$/, "") + path + query;
    const headers: Record<string, string | string[]> = { ...(base.options.headers as Record<string, string>), accept: p.accept ?? "application/json", "user-agent": this.#userAgent };
    if (this.#impersonate !== undefined) {
      headers["impersonate-user"] = this.#impersonate.user;
      if (this.#impersonate.groups.length > 0) headers["impersonate-group"] = this.#impersonate.groups;
    }
    let payload: string | undefined;
    if (p.body !== undefined) {
      payload = typeof p.body === "string" ? p.body : JSON.stringify(p.body);
      headers["content-type"] = p.contentType ?? "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    return { base, path: full, headers, payload };
  }

  async #open(method: string, path: string, p: RequestParams, prepared?: Prepared): Promise<{ res: IncomingMessage; abort: () => void }> {
    const { base, path: full, headers, payload } = prepared ?? await this.#prepare(method, path, p);
    const { protocol, port } = base.server;
    const send = protocol === "https:" ? request : httpRequest;
    return new Promise((resolve, reject) => {
      // A watch holds its connection for minutes: it gets one of its own, outside the
      // pool, or 32 reconcilers' watches would take all 64 pooled sockets and every
      // other request would wait for one forever (seen at 31 reconcilers).
      const agent = p.watch === true ? false : this.#agent;
      const options = { ...base.options, protocol, hostname: base.hostname, port, path: full, method, headers, agent, signal: p.signal, chakratorPool: base.pool };
      const req = send(options, (res) => {
        // Aborting a watch (stop, idle timeout) destroys its response with "aborted";
        // consumers see that through iteration or their own listeners. Never uncaught.
        res.on("error", () => {});
        resolve({ res, abort: () => req.destroy() });
      });
      const timeout = p.timeoutMs ?? 30_000;
      if (timeout > 0) req.setTimeout(timeout, () => req.destroy(new Error(`no response within ${timeout} ms`)));
      req.on("error", (err: Error) => reject(new KubeApiError(0, err.name === "AbortError" ? "Aborted" : "NetworkError", `${method} ${path}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }

  /** One request; resolves to the parsed JSON body, rejects with `KubeApiError`. */
  async request<T = unknown>(method: string, path: string, p: RequestParams = {}): Promise<T> {
    const { status, text } = await this.#exchange(method, path, p);
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
    throw statusError(status, text, `${method} ${path}`);
  }

  /** One request and its whole body; rejects only without a complete response. (Listeners: `for await` cost 3% CPU.) */
  async #exchange(method: string, path: string, p: RequestParams): Promise<{ status: number; text: string }> {
    const prepared = await this.#prepare(method, path, p);
    // #h2 exists only for an https server (fromKubeConfig).
    if (this.#h2 !== undefined) {
      const { path: full, headers, payload, base } = prepared;
      const got = await this.#h2.exchange(base.options, { url: new URL(full, base.server), method, headers, payload, timeoutMs: p.timeoutMs ?? 30_000, signal: p.signal })
        .catch((err: Error) => { throw new KubeApiError(0, err.name === "AbortError" ? "Aborted" : "NetworkError", `${method} ${path}: ${err.message}`, { cause: err }); });
      if (got !== undefined) return got;
    }
    const { res } = await this.#open(method, path, p, prepared);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const cut = (err?: unknown) => reject(new KubeApiError(0, "NetworkError", `${method} ${path}: response cut off`, err === undefined ? undefined : { cause: err }));
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("error", cut);
      res.once("aborted", () => cut());
      res.once("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
    });
  }

  /**
   * A streaming GET (a watch): calls `onLine` with each JSON line until the server ends
   * the response, the connection breaks, nothing arrives for `idleTimeoutMs`, or
   * `signal` aborts (`onOpen` once the server has answered 200). Resolves when the
   * stream ended cleanly; rejects with `KubeApiError`.
   */
  async stream(path: string, query: RequestParams["query"], onLine: (value: unknown) => void, options: { signal?: AbortSignal; idleTimeoutMs: number; accept?: string; onOpen?: () => void }): Promise<void> {
    const params: RequestParams = { query: query ?? {}, timeoutMs: options.idleTimeoutMs, watch: true };
    if (options.signal) params.signal = options.signal;
    if (options.accept) params.accept = options.accept;
    const { res } = await this.#open("GET", path, params);
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      let text = "";
      for await (const c of res) text += (c as Buffer).toString();
      throw statusError(status, text, `GET ${path}`);
    }
    options.onOpen?.();
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      let failed = false;
      lines.on("line", (line) => {
        if (failed || !line) return;
        try {
          onLine(JSON.parse(line));
        } catch (err: unknown) {
          failed = true;
          res.destroy();
          reject(err instanceof KubeApiError ? err : new KubeApiError(0, "BadWatchEvent", `GET ${path}: ${String(err)}`, { cause: err }));
        }
      });
      // readline re-emits its input's errors; the response's own listener below reports them.
      lines.on("error", () => {});
      res.on("error", (err: Error) => { failed = true; reject(new KubeApiError(0, "NetworkError", `GET ${path}: ${err.message}`, { cause: err })); });
      res.on("aborted", () => { failed = true; reject(new KubeApiError(0, "NetworkError", `GET ${path}: connection aborted`)); });
      lines.on("close", () => { if (!failed) resolve(); });
    });
  }

  /** Discovery: the resource behind a kind. Rejects with status 404 for an unknown kind. */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const find = async (fresh: boolean) => {
      if (fresh) this.#discovery.delete(apiVersion);
      let pending = this.#discovery.get(apiVersion);
      if (!pending) {
        const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
        pending = this.request<{ resources: Array<{ name: string; kind: string; namespaced: boolean }> }>("GET", path)
          .then((r) => r.resources.filter((x) => !x.name.includes("/")).map((x) => ({ apiVersion, kind: x.kind, plural: x.name, namespaced: x.namespaced })));
        pending.catch(() => this.#discovery.delete(apiVersion));
        this.#discovery.set(apiVersion, pending);
      }
      return (await pending.catch((err: unknown) => {
        if (err instanceof KubeApiError && err.status === 404) return [];
        throw err;
      })).find((r) => r.kind === kind);
    };
    const info = (await find(false)) ?? (await find(true));
    if (!info) throw new KubeApiError(404, "NotFound", `the API server does not serve kind ${kind} in ${apiVersion} (is its CRD installed?)`);
    return info;
  }

  /** The REST path of a collection or an object. */
  static path(info: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
    let p = info.apiVersion.includes("/") ? `/apis/${info.apiVersion}` : `/api/${info.apiVersion}`;
    if (info.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${info.plural}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
    return p;
  }

  /** Reads one object; resolves to undefined when it does not exist. */
  async get<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    const info = await this.resource(apiVersion, kind);
    const path = KubeClient.path(info, namespace, name);
    // A 404 is an answer, not an error: no KubeApiError (and stack) per child's first read.
    const { status, text } = await this.#exchange("GET", path, {});
    if (status === 404) return undefined;
    if (status >= 200 && status < 300) return JSON.parse(text) as T;
    throw statusError(status, text, `GET ${path}`);
  }

  /**
   * Lists every object (following `continue`), with the list's resourceVersion. With
   * `metadataOnly`, items carry only `metadata` (the API server's PartialObjectMetadata),
   * with `apiVersion` and `kind` set to the listed kind's, as for full items.
   */
  async list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, options: { namespace?: string; labelSelector?: string; pageSize?: number; signal?: AbortSignal; metadataOnly?: boolean } = {}): Promise<KubeList<T>> {
    const info = await this.resource(apiVersion, kind);
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const params: RequestParams = { query: { labelSelector: options.labelSelector, limit: options.pageSize ?? 500, continue: cont } };
      if (options.signal) params.signal = options.signal;
      if (options.metadataOnly) params.accept = METADATA_ONLY.list;
      const page = await this.request<KubeList<T>>("GET", KubeClient.path(info, options.namespace), params);
      // A metadata-only list of nothing says `"items": null`.
      for (const item of page.items ?? []) items.push({ ...item, apiVersion, kind });
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    return { items, metadata: rv === undefined ? {} : { resourceVersion: rv } };
  }

  /** Creates an object. */
  async create<T extends KubeObject>(obj: T): Promise<T> {
    const info = await this.resource(obj.apiVersion, obj.kind);
    return this.request<T>("POST", KubeClient.path(info, obj.metadata.namespace), { body: obj });
  }

  /** Replaces an object; with `metadata.resourceVersion` set, a concurrent change is a 409. */
  async replace<T extends KubeObject>(obj: T): Promise<T> {
    const info = await this.resource(obj.apiVersion, obj.kind);
    return this.request<T>("PUT", KubeClient.path(info, obj.metadata.namespace, obj.metadata.name), { body: obj });
  }

  /** Server-side apply of `obj` (or of its status with `subresource: "status"`). */
  async apply<T extends KubeObject>(obj: KubeObject, options: { fieldManager: string; force?: boolean; subresource?: "status" }): Promise<T> {
    const info = await this.resource(obj.apiVersion, obj.kind);
    return this.request<T>("PATCH", KubeClient.path(info, obj.metadata.namespace, obj.metadata.name, options.subresource), {
      body: obj,
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: options.fieldManager, force: options.force ?? true },
    });
  }

  /** A JSON merge patch or JSON patch of one object. */
  async patch<T extends KubeObject>(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown, type: "merge" | "json" = "merge", subresource?: "status"): Promise<T> {
    const info = await this.resource(apiVersion, kind);
    return this.request<T>("PATCH", KubeClient.path(info, namespace, name, subresource), {
      body: patch,
      contentType: type === "merge" ? "application/merge-patch+json" : "application/json-patch+json",
    });
  }

  /** Deletes an object; resolves false when it was already gone. */
  async delete(apiVersion: string, kind: string, name: string, namespace?: string, options: { uid?: string; propagationPolicy?: "Background" | "Foreground" | "Orphan" } = {}): Promise<boolean> {
    const info = await this.resource(apiVersion, kind);
    const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" };
    if (options.uid) body.preconditions = { uid: options.uid };
    if (options.propagationPolicy) body.propagationPolicy = options.propagationPolicy;
    try {
      await this.request("DELETE", KubeClient.path(info, namespace, name), { body });
      return true;
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  /** Closes pooled connections. */
  close(): void {
    this.#h2?.close();
    if (this.#agent !== tokenAgent) this.#agent.destroy();
  }
}

let tokenAgent: Agent | undefined;
