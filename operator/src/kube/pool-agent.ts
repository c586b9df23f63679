/**
 * KubeClient's HTTP/1.1 connection pool, keyed cheaply (see `PoolAgent`).
 */
import { Agent, type RequestOptions } from "node:https";

/**
 * An https Agent whose pool key is short. Node's own key concatenates the request's
 * TLS material (CA, certificate, key: kilobytes of PEM) into a new string on every
 * request and hashes it at each of several pool lookups: in the throughput bench's
 * profile the agent's bookkeeping was an eighth of the operator's HTTP CPU. Here the
 * material is interned once per credential refresh (`Base.pool`), and two clients
 * share a socket only when all of it is the same, as with Node's key.
 */
export class PoolAgent extends Agent {
  override getName(options?: RequestOptions & { chakratorPool?: string }): string {
    return options?.chakratorPool ?? super.getName(options);
  }
}

const pools = new Map<string, string>();

/** A short name for `options`' TLS material and server (everything but the headers). */
export function poolName(server: URL, options: RequestOptions): string {
  const material = JSON.stringify({ ...options, headers: undefined });
  let id = pools.get(material);
  if (id === undefined) pools.set(material, (id = String(pools.size + 1)));
  return `${server.host}:${id}`;
}
