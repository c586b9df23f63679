/**
 * Reads the API server's OpenAPI v3 documents (`/openapi/v3`), one per group-version,
 * for the kind typings (source/kinds.ts). kube/ is the only layer that talks to the
 * API server, so the fetching lives here and the generation above it.
 *
 * Caching: the index (`/openapi/v3`) names every group-version with a
 * `serverRelativeURL` carrying a content hash, which changes whenever the schema does
 * (a CRD installed, changed or removed). The index is re-read at most every `ttlMs`
 * (default 10 s), or at once (at most every `minRefreshMs`) when a group-version is
 * asked for that it does not list, so a CRD installed a moment ago is found on the
 * next compile. Documents are cached by that hash-bearing URL: an unchanged
 * group-version is never fetched twice, and a changed one is fetched once.
 *
 * Guarantees: never throws for an unreachable or refusing API server; a group-version
 * that cannot be read is reported as absent (`undefined`), so the caller falls back to
 * untyped objects rather than failing a compile.
 */
import { KubeClient } from "./client.ts";

/** One OpenAPI v3 document, as much of it as the typings use. */
export interface OpenApiDocument {
  components?: { schemas?: Record<string, OpenApiSchema> };
  [field: string]: unknown;
}

/** A JSON schema of OpenAPI v3 with Kubernetes' `x-kubernetes-*` extensions. */
export interface OpenApiSchema {
  type?: string;
  format?: string;
  description?: string;
  $ref?: string;
  allOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
  anyOf?: OpenApiSchema[];
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-group-version-kind"?: Array<{ group: string; version: string; kind: string }>;
  [field: string]: unknown;
}

/** A group-version's document and the URL (with its hash) it was read from. */
export interface GroupVersionDocument {
  apiVersion: string;
  url: string;
  doc: OpenApiDocument;
}

/** The OpenAPI v3 index path of an apiVersion: `v1` → `api/v1`, `apps/v1` → `apis/apps/v1`. */
export function openApiPath(apiVersion: string): string {
  return apiVersion.includes("/") ? `apis/${apiVersion}` : `api/${apiVersion}`;
}

/** The apiVersion of an index path, or undefined for paths that are not a group-version. */
function apiVersionOf(path: string): string | undefined {
  if (/^api\/[^/]+$/.test(path)) return path.slice("api/".length);
  if (/^apis\/[^/]+\/[^/]+$/.test(path)) return path.slice("apis/".length);
  return undefined;
}

/** Cached reader of the cluster's OpenAPI v3; see the module comment. */
export class OpenApiReader {
  readonly #client: KubeClient;
  readonly #ttlMs: number;
  readonly #minRefreshMs: number;
  #index: Map<string, string> | undefined;
  #indexAt = 0;
  #indexLoad: Promise<Map<string, string>> | undefined;
  readonly #docs = new Map<string, Promise<OpenApiDocument | undefined>>();
  /** Fetches of documents and of the index, for tests and benchmarks. */
  fetches = 0;

  constructor(client: KubeClient, options: { ttlMs?: number; minRefreshMs?: number } = {}) {
    this.#client = client;
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.#minRefreshMs = options.minRefreshMs ?? 2_000;
  }

  /** apiVersion → hash-bearing document URL of every group-version the cluster serves. */
  async index(options: { fresh?: boolean } = {}): Promise<ReadonlyMap<string, string>> {
    const age = Date.now() - this.#indexAt;
    const stale = this.#index === undefined || age > this.#ttlMs || (options.fresh === true && age > this.#minRefreshMs);
    if (!stale && this.#index) return this.#index;
    this.#indexLoad ??= this.#loadIndex().finally(() => (this.#indexLoad = undefined));
    return this.#indexLoad;
  }

  async #loadIndex(): Promise<Map<string, string>> {
    try {
      this.fetches++;
      const body = await this.#client.request<{ paths?: Record<string, { serverRelativeURL?: string }> }>("GET", "/openapi/v3");
      const out = new Map<string, string>();
      for (const [path, entry] of Object.entries(body.paths ?? {})) {
        const apiVersion = apiVersionOf(path);
        if (apiVersion !== undefined && typeof entry.serverRelativeURL === "string") out.set(apiVersion, entry.serverRelativeURL);
      }
      this.#index = out;
      this.#indexAt = Date.now();
      // Forget documents the index no longer names (their hash changed or they are gone).
      const live = new Set(out.values());
      for (const url of this.#docs.keys()) if (!live.has(url)) this.#docs.delete(url);
      return out;
    } catch {
      this.#indexAt = Date.now(); // retry after the TTL, not on every compile
      return this.#index ?? new Map();
    }
  }

  /**
   * The document of `apiVersion`, or undefined when the cluster serves no such
   * group-version (after one fresh look at the index) or it cannot be read.
   */
  async document(apiVersion: string): Promise<GroupVersionDocument | undefined> {
    let index = await this.index();
    if (!index.has(apiVersion)) index = await this.index({ fresh: true });
    for (let attempt = 0; attempt < 3; attempt++) {
      const url = index.get(apiVersion);
      if (url === undefined) return undefined;
      let doc = this.#docs.get(url);
      if (doc === undefined) {
        doc = this.#fetch(url);
        this.#docs.set(url, doc);
      }
      const got = await doc;
      if (got !== undefined) return { apiVersion, url, doc: got };
      this.#docs.delete(url); // a failure is not cached
      // The schema may have changed since the index was read (its hash URL is gone).
      index = await this.index({ fresh: true });
    }
    return undefined;
  }

  async #fetch(url: string): Promise<OpenApiDocument | undefined> {
    const [path = url, query = ""] = url.split("?", 2);
    try {
      this.fetches++;
      return await this.#client.request<OpenApiDocument>("GET", path, { query: Object.fromEntries(new URLSearchParams(query)), timeoutMs: 60_000 });
    } catch {
      return undefined;
    }
  }
}

/**
 * A reader for the current kube context (KUBECONFIG honoured, as kubectl does), for
 * tools outside the operator (`chakrator types`); undefined without a usable context.
 */
export async function readerForCurrentContext(): Promise<{ reader: OpenApiReader; server: string; close(): void } | undefined> {
  // Loaded here, not at the top: the operator imports this module, and the library
  // costs an idle operator ~75 MiB (operator/bench/MEMORY.md).
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
    if (!kc.getCurrentCluster()) return undefined;
    const client = KubeClient.fromKubeConfig(kc, { userAgent: "chakrator-types" });
    return { reader: new OpenApiReader(client, { ttlMs: 60_000 }), server: client.server, close: () => client.close() };
  } catch {
    return undefined;
  }
}
