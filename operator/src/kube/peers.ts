/**
 * Which addresses are the operator's own replicas: the rule a follower applies before it
 * opens the log relay to the address the leader wrote on the Lease. Anyone who may
 * update the Lease (or creates it first) chooses that address, so it is checked against
 * something they cannot choose:
 *
 * - With the operator's Service known (`CHAKRATOR_SERVICE`; in a pod by default
 *   `chakrator-editor` in the pod's namespace): the URL's host must be an IP address
 *   listed in an EndpointSlice of that Service that the EndpointSlice controller
 *   manages (label `endpointslice.kubernetes.io/managed-by:
 *   endpointslice-controller.k8s.io`, so derived from the pods its selector matches,
 *   ready or not), and its port one of the slice's ports.
 * - Without a Service (tests, `npm start`): only loopback addresses of this machine
 *   (127.0.0.0/8, ::1).
 *
 * Host names are refused in both cases: a name is resolved by DNS, which the check
 * does not control. Only http and https, with no user info in the URL.
 */
import { isIP } from "node:net";
import type { KubeClient, KubeObject } from "./client.ts";

/** The EndpointSlice controller's own value of `endpointslice.kubernetes.io/managed-by`. */
const MANAGED_BY = "endpointslice-controller.k8s.io";

interface EndpointSlice extends KubeObject {
  endpoints?: Array<{ addresses?: string[] }> | null;
  ports?: Array<{ port?: number | null }> | null;
}

/** The IP literal of a URL host ("[::1]" → "::1"), canonical, or undefined for a name. */
function ipOf(host: string): string | undefined {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (isIP(h) === 4) return h;
  if (isIP(h) === 6) return new URL(`http://[${h}]/`).hostname.replace(/^\[(.*)\]$/, "$1");
  return undefined;
}

function isLoopbackIp(ip: string): boolean {
  return isIP(ip) === 4 ? ip.startsWith("127.") : ip === "::1" || /^::ffff:127\./.test(ip) || /^::ffff:7f/.test(ip);
}

/** Decides whether an address read from the Lease is one of the operator's replicas. */
export class OperatorPeers {
  readonly #client: KubeClient;
  readonly #service: { namespace: string; name: string } | undefined;

  /** Without `service`, only loopback addresses pass (see the module comment). */
  constructor(client: KubeClient, service?: { namespace: string; name: string }) {
    this.#client = client;
    this.#service = service;
  }

  /** What the rule is, for log lines. */
  describe(): string {
    return this.#service
      ? `the pod addresses in the EndpointSlices of Service ${this.#service.namespace}/${this.#service.name}`
      : "loopback addresses only (no operator Service configured: CHAKRATOR_SERVICE)";
  }

  /**
   * Why `url` must not be followed, or undefined when it may. Rejects with
   * `KubeApiError` when the EndpointSlices cannot be listed (the caller retries later).
   */
  async refusal(url: string): Promise<string | undefined> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return `"${url}" is not a URL`;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return `${u.protocol} is not http or https`;
    if (u.username || u.password) return "the URL carries user info";
    const ip = ipOf(u.hostname);
    if (!ip) return `"${u.hostname}" is a host name, not an IP address of an operator pod`;
    if (!this.#service) return isLoopbackIp(ip) ? undefined : `${ip} is not a loopback address, and without an operator Service (CHAKRATOR_SERVICE) only loopback addresses are followed`;
    const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
    const { namespace, name } = this.#service;
    const slices = await this.#client.list<EndpointSlice>("discovery.k8s.io/v1", "EndpointSlice", {
      namespace,
      labelSelector: `kubernetes.io/service-name=${name}`,
    });
    for (const slice of slices.items) {
      if (slice.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] !== MANAGED_BY) continue;
      const addresses = (slice.endpoints ?? []).flatMap((e) => e.addresses ?? []).map((a) => ipOf(a));
      if (!addresses.includes(ip)) continue;
      const ports = (slice.ports ?? []).map((p) => p.port).filter((p): p is number => typeof p === "number");
      if (ports.length === 0 || ports.includes(port)) return undefined;
      return `${ip} is an operator pod, but port ${port} is not one of its Service's ports (${ports.join(", ")})`;
    }
    return `${ip} is not the address of a pod of Service ${namespace}/${name} (its EndpointSlices)`;
  }
}
