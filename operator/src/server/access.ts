/**
 * What a request may see and do, beyond the ConfigMap calls themselves.
 *
 * - `Permissions` asks the API server, with the person's own client, what they may do
 *   with ConfigMaps in a namespace or with one ConfigMap, and whether they may `get` a
 *   non-resource URL such as `/metrics` (SelfSubjectAccessReview). Answers are cached
 *   for 10 s per (token hash, question). They grey out what would fail in the UI, hide
 *   reconcilers the person may not read, and gate validation, dry runs and /metrics; the
 *   API server still decides each ConfigMap read and write itself.
 * - `liveReader` reads live objects (dry-run targets, their children, a reconciler's
 *   resources). With auth "token" it reads with the person's client, so a dry run can
 *   never show an object the person could not `kubectl get` (the operator's caches hold
 *   objects of every reconciler's kinds). With auth "off" it reads the controllers'
 *   informer caches when one holds the kind, else the operator's client.
 */
import type { KubeClient, KubeObject } from "../kube/client.ts";
import type { KindRef } from "../kube/kind-ref.ts";
import type { Operator } from "../operator.ts";
import type { Principal } from "./auth.ts";


/** Cached SelfSubjectAccessReviews for ConfigMaps. */
export class Permissions {
  readonly #cache = new Map<string, { value: Promise<boolean>; expires: number }>();

  /** What `p` may do with ConfigMaps in `namespace`. Never rejects: a failed review is "no". */
  async of(p: Principal, namespace: string): Promise<{ update: boolean; create: boolean }> {
    const [update, create] = await Promise.all([this.may(p, "update", namespace), this.may(p, "create", namespace)]);
    return { update, create };
  }

  /**
   * Whether `p` may `verb` ConfigMaps in `namespace` (all namespaces when undefined),
   * or the ConfigMap `name` there. Never rejects: a failed review is "no".
   */
  may(p: Principal, verb: "get" | "list" | "update" | "create", namespace: string | undefined, name?: string): Promise<boolean> {
    const attributes: Record<string, string> = { verb, group: "", resource: "configmaps" };
    if (namespace !== undefined) attributes["namespace"] = namespace;
    if (name !== undefined) attributes["name"] = name;
    return this.#ask(p, `${verb}/${namespace ?? "*"}/${name ?? "*"}`, { resourceAttributes: attributes });
  }

  /** Whether `p` may read the ConfigMap `namespace/name`: `get` on the namespace's ConfigMaps, or on that one. */
  async mayRead(p: Principal, namespace: string, name: string): Promise<boolean> {
    return (await this.may(p, "get", namespace)) || this.may(p, "get", namespace, name);
  }

  /** Whether `p` may `get` the non-resource URL `path` (e.g. "/metrics"). Never rejects. */
  mayGetUrl(p: Principal, path: string): Promise<boolean> {
    return this.#ask(p, `url/get/${path}`, { nonResourceAttributes: { verb: "get", path } });
  }

  #ask(p: Principal, question: string, spec: Record<string, unknown>): Promise<boolean> {
    const key = `${p.tokenHash ?? "operator"}/${question}`;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.expires > now) return hit.value;
    if (this.#cache.size > 5000) this.#cache.clear();
    const value = allowed(p.client, spec);
    this.#cache.set(key, { value, expires: now + 10_000 });
    return value;
  }
}

async function allowed(client: KubeClient, spec: Record<string, unknown>): Promise<boolean> {
  try {
    const res = await client.request<{ status?: { allowed?: boolean } }>("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec },
    });
    return res.status?.allowed === true;
  } catch {
    return false;
  }
}

/** Reads live objects; see the module comment. */
export interface LiveReader {
  get(kind: KindRef, name: string, namespace: string): Promise<KubeObject | undefined>;
  list(kind: KindRef, namespace: string | undefined, labels?: Record<string, string>): Promise<KubeObject[]>;
}

function labelSelector(labels: Record<string, string> | undefined): string | undefined {
  if (!labels) return undefined;
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(",") : undefined;
}

function clientReader(client: KubeClient): LiveReader {
  return {
    get: (kind, name, namespace) => client.get(kind.apiVersion, kind.kind, name, namespace),
    list: async (kind, namespace, labels) => {
      const options: { namespace?: string; labelSelector?: string } = {};
      if (namespace !== undefined) options.namespace = namespace;
      const selector = labelSelector(labels);
      if (selector !== undefined) options.labelSelector = selector;
      return (await client.list(kind.apiVersion, kind.kind, options)).items;
    },
  };
}

/** The informer of a running controller that caches `kind` in `namespace`, if any. */
export function cachedInformer(operator: Operator, kind: KindRef, namespace: string | undefined) {
  for (const state of operator.sources.states()) {
    const controller = operator.engine.controller(state.reconciler);
    if (!controller?.isStarted) continue;
    const scope = controller.revision.namespace;
    if (scope !== undefined && scope !== namespace) continue;
    const informer = controller.informerFor(kind);
    if (informer) return informer;
  }
  return undefined;
}

/** A reader for `p`'s request; see the module comment. */
export function liveReader(operator: Operator, auth: "off" | "token", p: Principal): LiveReader {
  const direct = clientReader(p.client);
  if (auth === "token") return direct;
  return {
    get: async (kind, name, namespace) => {
      const informer = cachedInformer(operator, kind, namespace);
      return informer ? informer.get(namespace, name) : direct.get(kind, name, namespace);
    },
    list: async (kind, namespace, labels) => {
      const informer = cachedInformer(operator, kind, namespace);
      return informer ? informer.list(namespace, labels) : direct.list(kind, namespace, labels);
    },
  };
}
