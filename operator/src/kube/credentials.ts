/**
 * Credentials for the operator's KubeClient without loading `@kubernetes/client-node`.
 *
 * Why: the library's `KubeConfig` imports its whole generated API (868 files, 16 MB of
 * source), which costs an idle operator about 75 MiB of RSS and 23 MiB of V8 heap
 * (operator/bench/MEMORY.md), while KubeClient needs two things of it: the current
 * cluster's server and the TLS/auth options of a request. The common cases are read
 * here directly:
 *   - in a pod: the ServiceAccount token (re-read on every call, it rotates), its CA,
 *     KUBERNETES_SERVICE_HOST/PORT;
 *   - one kubeconfig file (KUBECONFIG naming one file, else ~/.kube/config) whose
 *     current context has a server, a CA (data, file or insecure-skip-tls-verify), and
 *     a bearer token, token file or client certificate.
 * Anything else (exec plugins, auth providers, basic auth, proxies, several kubeconfig
 * files merged) falls back to the library's `KubeConfig`, loaded only then, so every
 * way kubectl authenticates still works.
 */
import { existsSync, readFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";

/** What KubeClient needs of a kubeconfig; `@kubernetes/client-node`'s KubeConfig has it too. */
export interface KubeCredentials {
  getCurrentCluster(): { server: string } | null;
  /** Sets TLS and auth options (ca, cert, key, rejectUnauthorized, servername, authorization header). */
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

export type CredentialSource = "in-cluster" | "kubeconfig" | "library";

/** Where a pod's ServiceAccount token, CA bundle and namespace are mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The namespace of the pod this runs in (the mounted ServiceAccount's), or undefined outside a pod. */
export function podNamespace(): string | undefined {
  const file = join(SERVICE_ACCOUNT_DIR, "namespace");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

/**
 * Loads credentials as `KubeConfig.loadFromCluster()` (inCluster) or
 * `loadFromDefault()` would; throws with a message people can act on.
 */
export async function loadCredentials(o: { inCluster: boolean; env?: NodeJS.ProcessEnv; serviceAccountDir?: string }): Promise<{ credentials: KubeCredentials; source: CredentialSource }> {
  const env = o.env ?? process.env;
  if (o.inCluster) return { credentials: inClusterCredentials(env, o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR), source: "in-cluster" };
  const files = env.KUBECONFIG ? env.KUBECONFIG.split(delimiter).filter(Boolean) : [];
  const file = env.KUBECONFIG ? (files.length === 1 ? files[0] : undefined) : join(homedir(), ".kube", "config");
  if (file !== undefined && existsSync(file)) {
    const lite = fromKubeconfigFile(file);
    if (lite) return { credentials: lite, source: "kubeconfig" };
  }
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  if (files.length === 0) kc.loadFromDefault();
  else {
    // As loadFromDefault does with KUBECONFIG, but from `env`.
    kc.loadFromFile(files[0]!);
    for (const f of files.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more);
    }
  }
  return { credentials: kc, source: "library" };
}

function inClusterCredentials(env: NodeJS.ProcessEnv, dir: string): KubeCredentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("in a pod, but KUBERNETES_SERVICE_HOST/PORT are not set");
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const ca = readFileSync(join(dir, "ca.crt"));
  return {
    getCurrentCluster: () => ({ server }),
    applyToHTTPSOptions: async (options) => {
      options.ca = ca;
      setAuthorization(options, `Bearer ${readFileSync(join(dir, "token"), "utf8").trim()}`);
    },
  };
}

interface Named<T> { name?: string; [key: string]: unknown; cluster?: T; user?: T; context?: T }

/**
 * The credentials of `file`'s current context when they are of a kind read here;
 * undefined when the library must handle them.
 */
export function fromKubeconfigFile(file: string): KubeCredentials | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined; // the library gives the better error
  }
  if (!doc || typeof doc !== "object") return undefined;
  const find = <T>(list: unknown, name: unknown, key: "cluster" | "user" | "context"): T | undefined =>
    Array.isArray(list) ? ((list as Array<Named<T>>).find((e) => e?.name === name)?.[key]) : undefined;
  const context = find<Record<string, unknown>>(doc.contexts, doc["current-context"], "context");
  if (!context) return undefined;
  const cluster = find<Record<string, unknown>>(doc.clusters, context.cluster, "cluster");
  const user = find<Record<string, unknown>>(doc.users, context.user, "user") ?? {};
  if (!cluster || typeof cluster.server !== "string") return undefined;
  const knownCluster = new Set(["server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name", "extensions"]);
  const knownUser = new Set(["token", "tokenFile", "client-certificate", "client-certificate-data", "client-key", "client-key-data", "extensions"]);
  if (Object.keys(cluster).some((k) => !knownCluster.has(k)) || Object.keys(user).some((k) => !knownUser.has(k))) return undefined;

  const base = dirname(file);
  const path = (p: unknown) => (typeof p === "string" ? (isAbsolute(p) ? p : join(base, p)) : undefined);
  const bytes = (data: unknown, p: unknown): Buffer | undefined =>
    typeof data === "string" ? Buffer.from(data, "base64") : path(p) !== undefined ? readFileSync(path(p)!) : undefined;
  const server = cluster.server;
  const ca = bytes(cluster["certificate-authority-data"], cluster["certificate-authority"]);
  const cert = bytes(user["client-certificate-data"], user["client-certificate"]);
  const key = bytes(user["client-key-data"], user["client-key"]);
  const tokenFile = path(user.tokenFile);
  const token = typeof user.token === "string" ? user.token : undefined;
  return {
    getCurrentCluster: () => ({ server }),
    applyToHTTPSOptions: async (options) => {
      if (ca) options.ca = ca;
      if (cert) options.cert = cert;
      if (key) options.key = key;
      if (cluster["insecure-skip-tls-verify"] === true) options.rejectUnauthorized = false;
      if (typeof cluster["tls-server-name"] === "string") options.servername = cluster["tls-server-name"];
      const bearer = token ?? (tokenFile ? readFileSync(tokenFile, "utf8").trim() : undefined);
      if (bearer) setAuthorization(options, `Bearer ${bearer}`);
    },
  };
}

function setAuthorization(options: RequestOptions, value: string): void {
  options.headers = { ...(options.headers as Record<string, string> | undefined), Authorization: value };
}
