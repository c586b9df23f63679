/**
 * A small typed client for the editor's REST API (see protocol.ts). Every non-2xx
 * answer is `ApiError` JSON and becomes an `ApiRequestError` (or a subclass for the
 * answers the UI treats specially: 401, 409 on save, 422 with diagnostics, 429 with
 * its Retry-After, 409 `Superseded` of a validation a newer one replaced). Network
 * failures become an `ApiRequestError` with status 0. Paths are relative to the page,
 * so the UI also works behind a path prefix (e.g. `kubectl proxy`).
 */
import type {
  ApiError,
  Diagnostic,
  DryRunRequest,
  DryRunResponse,
  ReconcilerRbac,
  ReconcilerRef,
  ReconcilerSource,
  ReconcilerSummary,
  ResourceRef,
  Revision,
  SaveConflict,
  SaveResponse,
  Session,
  ValidateResponse,
} from "../protocol.ts";

/** A failed API call: the server's `ApiError` body, or status 0 for a network error. */
export class ApiRequestError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly diagnostics: Diagnostic[];
  constructor(status: number, reason: string, message: string, diagnostics: Diagnostic[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = "ApiRequestError";
    this.status = status;
    this.reason = reason;
    this.diagnostics = diagnostics;
  }
}

/** 401: no session, or the token was refused. */
export class UnauthorizedError extends ApiRequestError {
  override name = "UnauthorizedError";
}

/** 409 on save or rollback: someone saved first; `current` is what the server has now. */
export class ConflictError extends ApiRequestError {
  override name = "ConflictError";
  readonly current: SaveConflict["current"] | undefined;
  constructor(body: ApiError["error"], current: SaveConflict["current"] | undefined) {
    super(body.status, body.reason, body.message, body.diagnostics ?? []);
    this.current = current;
  }
}

/** 429: the server is busy (the editor lane is full); try again after `retryAfterSeconds`. */
export class BusyError extends ApiRequestError {
  override name = "BusyError";
  readonly retryAfterSeconds: number;
  constructor(reason: string, message: string, retryAfterSeconds: number) {
    super(429, reason, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 409 `Superseded`: a newer validation of the same file replaced this one; its answer is the one that counts. */
export class SupersededError extends ApiRequestError {
  override name = "SupersededError";
}

/** The seconds of a Retry-After header (seconds or an HTTP date); 5 when missing or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number {
  if (header === null || header.trim() === "") return 5;
  const n = Number(header);
  if (Number.isFinite(n)) return Math.min(300, Math.max(1, Math.ceil(n)));
  const at = Date.parse(header);
  return Number.isNaN(at) ? 5 : Math.min(300, Math.max(1, Math.ceil((at - now) / 1000)));
}

/** 422: the source does not compile; `diagnostics` says where. Saving with `force` skips it. */
export class InvalidSourceError extends ApiRequestError {
  override name = "InvalidSourceError";
}

/** The language service requests (operator/src/server/intellisense.ts). */
export type IntelliSenseOp = "completions" | "quickinfo" | "signature" | "definition" | "format";

/** The body of a language service request; `pos` is an offset into `files[file]`. */
export interface IntelliSenseRequest {
  reconciler: { namespace: string; name: string };
  files: Record<string, string>;
  file: string;
  pos?: number;
}

function path(ns: string, name: string, rest = ""): string {
  return `api/reconcilers/${encodeURIComponent(ns)}/${encodeURIComponent(name)}${rest}`;
}

/** The REST client. Methods resolve to the protocol's bodies or reject with `ApiRequestError`. */
export class ApiClient {
  readonly base: URL;
  constructor(base: string | URL = new URL(".", document.baseURI)) {
    this.base = new URL(base);
  }

  /** GET/POST/PUT/DELETE `path` with an optional JSON body; throws typed errors. */
  async request<T>(method: string, rel: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const init: RequestInit = { method, credentials: "same-origin", headers: { accept: "application/json" } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { accept: "application/json", "content-type": "application/json" };
    }
    if (signal) init.signal = signal;
    let res: Response;
    try {
      res = await fetch(new URL(rel, this.base), init);
    } catch (err: unknown) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw new ApiRequestError(0, "NetworkError", "the server cannot be reached", [], { cause: err });
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: handled below */
    }
    if (res.ok) return json as T;
    throw toError(res.status, json, text, res.headers.get("retry-after"));
  }

  session(): Promise<Session> {
    return this.request("GET", "api/session");
  }
  signIn(token: string): Promise<Session> {
    return this.request("POST", "api/session", { token });
  }
  signOut(): Promise<Session> {
    return this.request("DELETE", "api/session");
  }
  async reconcilers(): Promise<ReconcilerSummary[]> {
    return (await this.request<{ items: ReconcilerSummary[] }>("GET", "api/reconcilers")).items;
  }
  source(ns: string, name: string): Promise<ReconcilerSource> {
    return this.request("GET", path(ns, name));
  }
  save(ns: string, name: string, files: Record<string, string>, resourceVersion: string, force = false): Promise<SaveResponse> {
    return this.request("PUT", path(ns, name), force ? { files, resourceVersion, force } : { files, resourceVersion });
  }
  async revisions(ns: string, name: string): Promise<Revision[]> {
    return (await this.request<{ items: Revision[] }>("GET", path(ns, name, "/revisions"))).items;
  }
  rollback(ns: string, name: string, revision: number, resourceVersion: string): Promise<SaveResponse> {
    return this.request("POST", path(ns, name, "/rollback"), { revision, resourceVersion });
  }
  rbac(ns: string, name: string): Promise<ReconcilerRbac> {
    return this.request("GET", path(ns, name, "/rbac"));
  }
  async resources(ns: string, name: string): Promise<ResourceRef[]> {
    return (await this.request<{ items: ResourceRef[] }>("GET", path(ns, name, "/resources"))).items;
  }
  validate(reconciler: ReconcilerRef, files: Record<string, string>, signal?: AbortSignal): Promise<ValidateResponse> {
    return this.request("POST", "api/validate", { files, reconciler }, signal);
  }
  dryRun(req: DryRunRequest): Promise<DryRunResponse> {
    return this.request("POST", "api/dry-run", req);
  }
  /**
   * Asks the operator's TypeScript language service (`op`: completions, quickinfo,
   * signature, definition, format) about `file` within `files`; resolves to its answer.
   */
  async intellisense<T>(op: IntelliSenseOp, body: IntelliSenseRequest, signal?: AbortSignal): Promise<T> {
    return (await this.request<{ answer: T }>("POST", `api/intellisense/${op}`, body, signal)).answer;
  }
}

function toError(status: number, json: unknown, text: string, retryAfter: string | null): ApiRequestError {
  const body = (json as Partial<SaveConflict> | undefined)?.error;
  if (status === 429) return new BusyError(body?.reason ?? "TooManyRequests", body?.message ?? "the server is busy", retryAfterSeconds(retryAfter));
  if (!body || typeof body !== "object") {
    return new ApiRequestError(status, "HttpError", text.trim().slice(0, 200) || `HTTP ${status}`);
  }
  const diagnostics = body.diagnostics ?? [];
  if (status === 401) return new UnauthorizedError(status, body.reason, body.message, diagnostics);
  if (status === 409 && body.reason === "Superseded") return new SupersededError(status, body.reason, body.message, diagnostics);
  if (status === 409) return new ConflictError(body, (json as Partial<SaveConflict>).current);
  if (status === 422) return new InvalidSourceError(status, body.reason, body.message, diagnostics);
  return new ApiRequestError(status, body.reason, body.message, diagnostics);
}
