/**
 * How KubeClient's connections are keyed: its HTTP/1.1 pool (`PoolAgent`), cheaply, and
 * both that pool and HTTP/2 sessions by one TLS identity (`tlsIdentity`).
 */
import { createHash } from "node:crypto";
import { Agent, type RequestOptions } from "node:https";

/**
 * An https Agent whose pool key is short. Node's own key concatenates the request's
 * TLS material (CA, certificate, key: kilobytes of PEM) into a new string on every
 * request and hashes it at each of several pool lookups: in the throughput bench's
 * profile the agent's bookkeeping was an eighth of the operator's HTTP CPU. Here the
 * material is digested once per credential refresh (`Base.pool`), and two clients
 * share a socket only when all of it is the same, as with Node's key.
 */
export class PoolAgent extends Agent {
  override getName(options?: RequestOptions & { chakratorPool?: string }): string {
    return options?.chakratorPool ?? super.getName(options);
  }
}

/**
 * A digest of `options`' TLS material: everything but the headers (CA, certificate, key,
 * verification, server name...). Connections are shared only between requests whose
 * identities are equal: the HTTP/1.1 pool here, and HTTP/2 sessions (h2.ts).
 */
export function tlsIdentity(options: object): string {
  return createHash("sha256").update(JSON.stringify({ ...options, headers: undefined })).digest("hex");
}

/** A short name for `options`' TLS material and server: `PoolAgent`'s key. */
export function poolName(server: URL, options: RequestOptions): string {
  return `${server.host}:${tlsIdentity(options)}`;
}
