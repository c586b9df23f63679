/**
 * Resource names of kinds, for tools that run outside the operator (`chakrator rbac`).
 *
 * RBAC rules name resources (`myresources`), while reconcilers name kinds
 * (`MyResource`). When a kubeconfig is reachable (KUBECONFIG honoured, as kubectl does;
 * an API server that answers `/version` within 3 s), the API server's discovery says
 * the plural and whether the kind is namespaced. Otherwise, or for a kind the server
 * does not serve, `guessPlural` applies the rule most Kubernetes kinds follow, and the
 * kind is taken as namespaced.
 */
import { KubeClient, type ResourceInfo } from "./client.ts";

/**
 * The plural by the usual rule: lowercase, then "y" after a consonant → "ies";
 * "s", "x", "z", "ch", "sh" → + "es"; otherwise + "s" (`Policy` → `policies`,
 * `Ingress` → `ingresses`, `MyResource` → `myresources`). Irregular ones need an override.
 */
export function guessPlural(kind: string): string {
  const k = kind.toLowerCase();
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  return `${k}s`;
}

/** What discovery found; `server` is where it asked, undefined when no API server was reachable. */
export interface Discovered {
  server: string | undefined;
  /** By `apiVersion/kind`; kinds the server does not serve are missing. */
  resources: Map<string, ResourceInfo>;
}

/**
 * Looks `kinds` up on the API server of the current kube context. Never throws: with no
 * kubeconfig, or none that answers, the map is empty and `server` undefined.
 */
export async function discover(kinds: ReadonlyArray<{ apiVersion: string; kind: string }>): Promise<Discovered> {
  const resources = new Map<string, ResourceInfo>();
  // Loaded here, not at the top: the operator imports guessPlural from this module, and
  // the library costs an idle operator ~75 MiB (operator/bench/MEMORY.md).
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch {
    return { server: undefined, resources };
  }
  if (!kc.getCurrentCluster()) return { server: undefined, resources };
  let client: KubeClient;
  try {
    client = KubeClient.fromKubeConfig(kc);
  } catch {
    return { server: undefined, resources };
  }
  try {
    await client.request("GET", "/version", { timeoutMs: 3_000 });
  } catch {
    client.close();
    return { server: undefined, resources };
  }
  for (const k of kinds) {
    try {
      resources.set(`${k.apiVersion}/${k.kind}`, await client.resource(k.apiVersion, k.kind));
    } catch {
      // Not served (CRD not installed) or not allowed: the caller falls back to the rule.
    }
  }
  client.close();
  return { server: client.server, resources };
}
