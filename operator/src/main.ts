/**
 * The operator process: reads settings from the environment, then wires the stages
 * together (no logic here). `node operator/src/main.ts` is the image's command and
 * what `npm start` runs after preparing a cluster.
 *
 * Settings (all optional):
 *   KUBECONFIG                     kubeconfig; in a pod the ServiceAccount is used
 *   CHAKRATOR_NAMESPACE            namespace(s) of reconciler ConfigMaps: one, or a comma-separated
 *                                  allow-list (default: all namespaces)
 *   CHAKRATOR_LISTEN               editor address, host:port (default 127.0.0.1:8080)
 *   CHAKRATOR_AUTH                 "token" or "off"; default off on loopback, token elsewhere
 *   CHAKRATOR_LOG_LEVEL            debug | info | warn | error (default info)
 *   CHAKRATOR_KEEP_REVISIONS       revisions kept per reconciler (default 10)
 *   CHAKRATOR_IMPERSONATE          "false" lets reconcilers act with the operator's own rights; default:
 *                                  each acts as the ServiceAccount its ConfigMap names
 *   CHAKRATOR_DEFAULT_SERVICE_ACCOUNT  the ServiceAccount of a reconciler ConfigMap without
 *                                  chakrator.dev/service-account (default "default")
 *   CHAKRATOR_WORKERS              concurrent reconciles per reconciler (default 32)
 *   CHAKRATOR_SANDBOX_TIMEOUT_MS   default per-call limit (default 5000, cap 30000)
 *   CHAKRATOR_SANDBOX_MEMORY_MB    default isolate memory (default 64, cap 256)
 *   CHAKRATOR_SANDBOX_POOL         isolates per revision (default 2)
 *   CHAKRATOR_SANDBOX_MAX_HOST_MB  global cap on one reconciler's sandbox host RSS (default 1024 MiB)
 *   CHAKRATOR_LEADER_ELECTION      "true" to run several replicas (default: true in a pod)
 *   CHAKRATOR_LEASE_NAMESPACE      namespace of the Lease (default: the pod's, else "default")
 *   CHAKRATOR_LEASE_NAME           name of the Lease (default "chakrator-leader")
 *   CHAKRATOR_ADVERTISE_URL        this replica's editor as other replicas reach it, for the
 *                                  log relay (default: the listen address; in a pod, set it
 *                                  to http://$(POD_IP):8080)
 *   CHAKRATOR_SERVICE              the operator's Service, "name" or "namespace/name": followers
 *                                  relay logs only from a leader address among its
 *                                  EndpointSlices (default in a pod: chakrator-editor; the
 *                                  namespace defaults to the Lease's; elsewhere none:
 *                                  loopback addresses only)
 *   POD_NAME, POD_UID              this pod (downward API): the relay token is bound to it
 *   CHAKRATOR_SHUTDOWN_GRACE_MS    in-flight reconciles' deadline on SIGTERM (default 20000)
 *   CHAKRATOR_EDITOR_CONCURRENCY   editor validations and dry runs at once (default 2)
 *   CHAKRATOR_EDITOR_MAX_CONNECTIONS  open connections to the editor server (default 512)
 *   CHAKRATOR_TOKENREVIEW_BURST    TokenReviews per client address at once (default 20) ...
 *   CHAKRATOR_TOKENREVIEW_PER_SECOND  ... refilled at this rate (default 2); raise both behind
 *                                  a proxy, where every client shares its address
 *   CHAKRATOR_WEBHOOK              "off" to serve no admission webhooks (default on)
 *   CHAKRATOR_WEBHOOK_LISTEN       the webhook's HTTPS address (default: in a pod 0.0.0.0:9443;
 *                                  elsewhere 127.0.0.1:0, a free loopback port)
 *   CHAKRATOR_WEBHOOK_SERVICE      the Service the API server calls the webhook through,
 *                                  "name" or "namespace/name" (port 443); without it the
 *                                  webhook configurations carry a url of the listen address
 *   CHAKRATOR_WEBHOOK_NAMESPACE    where the certificate Secret lives (default: the pod's
 *                                  namespace, else CHAKRATOR_LEASE_NAMESPACE, else "default")
 *   CHAKRATOR_JS_DIR               the operator's JavaScript built ahead of time, which the
 *                                  sandbox hosts and the compiler start from (the image sets
 *                                  /app/js; see child/js-entry.ts; read there)
 *   CHAKRATOR_KUBE_HTTP2           "1" to send plain API requests over HTTP/2 when the API server
 *                                  offers it (default HTTP/1.1; watches always; the trade,
 *                                  less CPU for much more memory, is in kube/h2.ts; read there)
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadCredentials, podNamespace, SERVICE_ACCOUNT_DIR, type KubeCredentials } from "./kube/credentials.ts";
import { collectWhenIdle } from "./child/idle-memory.ts";
import { runOperator } from "./lifecycle.ts";
import { isLoopbackHost } from "./server/origin.ts";
import { LogBus } from "./telemetry/log.ts";

const env = process.env;
// The bus reads CHAKRATOR_LOG_LEVEL itself (and says so when it is not a level).
const log = new LogBus();

function int(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    log.error(`${name}=${raw} is not a positive integer; using ${fallback}`);
    return fallback;
  }
  return n;
}

const inCluster = existsSync(join(SERVICE_ACCOUNT_DIR, "token")) && !env.KUBECONFIG;

/** The admission webhook settings (CHAKRATOR_WEBHOOK*). */
function webhookSettings(): Pick<Parameters<typeof runOperator>[0], "admission"> {
  if (env.CHAKRATOR_WEBHOOK === "off") return {};
  const namespace = env.CHAKRATOR_WEBHOOK_NAMESPACE || (podNamespace() ?? (env.CHAKRATOR_LEASE_NAMESPACE || "default"));
  const [listenHost = "127.0.0.1", listenPort = "0"] = (env.CHAKRATOR_WEBHOOK_LISTEN ?? (inCluster ? "0.0.0.0:9443" : "127.0.0.1:0")).split(/:(?=[^:]*$)/);
  const service = env.CHAKRATOR_WEBHOOK_SERVICE ?? "";
  const [first = "", second] = service.split("/");
  return {
    admission: {
      listen: { host: listenHost, port: Number(listenPort) },
      namespace,
      ...(service ? { service: { namespace: second !== undefined ? first : namespace, name: second ?? first, port: 443 } } : {}),
    },
  };
}
// Not the library's KubeConfig unless the kubeconfig needs it (exec plugins and the
// like): loading it costs the idle operator ~75 MiB (kube/credentials.ts).
let kubeConfig: KubeCredentials;
try {
  kubeConfig = (await loadCredentials({ inCluster })).credentials;
  if (!kubeConfig.getCurrentCluster()) throw new Error("no current cluster in the kubeconfig");
} catch (err: unknown) {
  log.error(`cannot load Kubernetes credentials: ${err instanceof Error ? err.message : String(err)}; set KUBECONFIG or run in a pod`);
  process.exit(1);
}

/** `CHAKRATOR_NAMESPACE`: "" for all, "a" for one, "a,b" for an allow-list. */
function namespaceSetting(value: string): { namespace?: string; namespaces?: string[] } {
  const names = value.split(",").map((n) => n.trim()).filter((n) => n !== "");
  if (names.length === 0) return {};
  return names.length === 1 ? { namespace: names[0]! } : { namespaces: names };
}

/** `CHAKRATOR_SERVICE` ("name" or "namespace/name"; without a namespace, the Lease's: run.ts). */
function relayService(value: string): { relayService?: { namespace?: string; name: string } } {
  if (value === "") return {};
  const [first, second] = value.split("/");
  return { relayService: second !== undefined ? { namespace: first!, name: second } : { name: first! } };
}

const [host = "127.0.0.1", portText = "8080"] = (env.CHAKRATOR_LISTEN ?? "127.0.0.1:8080").split(/:(?=[^:]*$)/);
const auth = env.CHAKRATOR_AUTH === "off" || env.CHAKRATOR_AUTH === "token" ? env.CHAKRATOR_AUTH : isLoopbackHost(host) ? "off" : "token";

// Once idle, give back the young generation the start-up (or a burst of work) grew.
collectWhenIdle();

await runOperator({
  kubeConfig,
  log,
  // One namespace is watched alone; several (comma-separated) are an allow-list over a cluster-wide watch.
  ...namespaceSetting(env.CHAKRATOR_NAMESPACE ?? ""),
  listen: { host, port: Number(portText) },
  auth,
  keepRevisions: int("CHAKRATOR_KEEP_REVISIONS", 10),
  // Each reconciler acts as the ServiceAccount its ConfigMap names, never as the operator.
  impersonate: env.CHAKRATOR_IMPERSONATE !== "false",
  ...(env.CHAKRATOR_DEFAULT_SERVICE_ACCOUNT ? { defaultServiceAccount: env.CHAKRATOR_DEFAULT_SERVICE_ACCOUNT } : {}),
  workers: int("CHAKRATOR_WORKERS", 32),
  sandbox: {
    timeoutMs: int("CHAKRATOR_SANDBOX_TIMEOUT_MS", 5000),
    memoryMb: int("CHAKRATOR_SANDBOX_MEMORY_MB", 64),
    poolSize: int("CHAKRATOR_SANDBOX_POOL", 2),
    maxHostMemoryMb: int("CHAKRATOR_SANDBOX_MAX_HOST_MB", 1024),
  },
  leaderElection: env.CHAKRATOR_LEADER_ELECTION ? env.CHAKRATOR_LEADER_ELECTION === "true" : inCluster,
  ...(env.CHAKRATOR_ADVERTISE_URL ? { advertiseUrl: env.CHAKRATOR_ADVERTISE_URL } : {}),
  ...relayService(env.CHAKRATOR_SERVICE ?? (inCluster ? "chakrator-editor" : "")),
  ...(env.POD_NAME && env.POD_UID ? { pod: { name: env.POD_NAME, uid: env.POD_UID } } : {}),
  lease: {
    ...(env.CHAKRATOR_LEASE_NAMESPACE ? { namespace: env.CHAKRATOR_LEASE_NAMESPACE } : {}),
    ...(env.CHAKRATOR_LEASE_NAME ? { name: env.CHAKRATOR_LEASE_NAME } : {}),
  },
  shutdownGraceMs: int("CHAKRATOR_SHUTDOWN_GRACE_MS", 20_000),
  editor: {
    editorLane: { concurrency: int("CHAKRATOR_EDITOR_CONCURRENCY", 2) },
    limits: { maxConnections: int("CHAKRATOR_EDITOR_MAX_CONNECTIONS", 512) },
    authenticator: { reviewBurst: int("CHAKRATOR_TOKENREVIEW_BURST", 20), reviewsPerSecond: int("CHAKRATOR_TOKENREVIEW_PER_SECOND", 2) },
  },
  ...webhookSettings(),
});
