/**
 * Tokens between the operator's own replicas (the log relay, telemetry/relay.ts).
 *
 * A follower must prove to the leader that it is the operator, without handing the
 * leader (or whoever the Lease points at) a credential for the API server. So it never
 * sends its ServiceAccount token. It asks the API server for a TokenRequest for its own
 * ServiceAccount with the audience `chakrator.dev/relay` and a short life (10 min, the
 * API's minimum). The API server itself refuses that token (its audience is not the
 * API server's), so a captured one is worthless against the cluster. The leader checks
 * it with a TokenReview that names the same audience, and admits it only when the
 * reviewed user is the leader's own ServiceAccount.
 *
 * In a pod (`POD_NAME`, `POD_UID` from the downward API) the token is also bound to the
 * pod: the API server stops accepting it the moment the pod is deleted.
 *
 * Who "own" is comes from SelfSubjectReview (what `kubectl auth whoami` asks), so it
 * works the same in a pod and with a kubeconfig that holds a ServiceAccount token.
 * When the operator is not a ServiceAccount (a person's kubeconfig, `npm start`),
 * there is no relay token: the follower sends none, and only a leader with auth off
 * (loopback) lets it in.
 *
 * Guarantees: tokens are never logged; reviews are cached by a SHA-256 of the token
 * (30 s, failures 5 s, at most 100 entries); `relayPeer` never throws.
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { KubeClient } from "./client.ts";

/** The audience of relay tokens: no Kubernetes API server accepts it for itself. */
export const RELAY_AUDIENCE = "chakrator.dev/relay";

/** Lifetime asked for a relay token (the API's minimum); renewed at 80% of it. */
const RELAY_TOKEN_SECONDS = 600;

/** A ServiceAccount, from its user name `system:serviceaccount:<namespace>:<name>`. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}

/** The user name `client` acts as (SelfSubjectReview). Rejects with `KubeApiError`. */
export async function whoAmI(client: KubeClient): Promise<string> {
  const r = await client.request<{ status?: { userInfo?: { username?: string } } }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  return r.status?.userInfo?.username ?? "";
}

/** Mints and renews the follower's relay token for the operator's own ServiceAccount. */
export class RelayTokenSource {
  readonly #client: KubeClient;
  readonly #pod: { name: string; uid: string } | undefined;
  #self: Promise<{ namespace: string; name: string } | undefined> | undefined;
  #token: { value: string; renewAt: number } | undefined;

  /** With `pod`, tokens are bound to that pod (it must run as the operator's ServiceAccount). */
  constructor(client: KubeClient, options: { pod?: { name: string; uid: string } } = {}) {
    this.#client = client;
    this.#pod = options.pod;
  }

  /**
   * A token with audience `chakrator.dev/relay`, or undefined when the operator is not a
   * ServiceAccount. Rejects with `KubeApiError` when the TokenRequest fails (e.g. RBAC
   * lacks `create serviceaccounts/token` for its own ServiceAccount).
   */
  async token(): Promise<string | undefined> {
    if (this.#token && Date.now() < this.#token.renewAt) return this.#token.value;
    if (!this.#self) {
      const self = whoAmI(this.#client).then(serviceAccountOf);
      // A failed SelfSubjectReview is asked again next time.
      self.catch(() => { if (this.#self === self) this.#self = undefined; });
      this.#self = self;
    }
    const sa = await this.#self;
    if (!sa) return undefined;
    const r = await this.#client.request<{ status?: { token?: string; expirationTimestamp?: string } }>(
      "POST", `/api/v1/namespaces/${encodeURIComponent(sa.namespace)}/serviceaccounts/${encodeURIComponent(sa.name)}/token`,
      { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {
        audiences: [RELAY_AUDIENCE],
        expirationSeconds: RELAY_TOKEN_SECONDS,
        ...(this.#pod ? { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: this.#pod.name, uid: this.#pod.uid } } : {}),
      } } },
    );
    const value = r.status?.token;
    if (!value) return undefined;
    const expires = Date.parse(r.status?.expirationTimestamp ?? "");
    const lifetime = Number.isFinite(expires) ? Math.max(0, expires - Date.now()) : RELAY_TOKEN_SECONDS * 1000;
    this.#token = { value, renewAt: Date.now() + lifetime * 0.8 };
    return value;
  }
}

/** True when `token` is a JWT whose (unverified) audience names the relay: only used to route it to `relayPeer`. */
export function isRelayToken(token: string): boolean {
  const payload = token.split(".")[1];
  if (payload === undefined || payload.length > 8192) return false;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { aud?: unknown };
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    return aud.includes(RELAY_AUDIENCE);
  } catch {
    return false;
  }
}

interface Review { username: string | undefined; expires: number }
const reviews = new Map<string, Review>();
const selves = new WeakMap<KubeClient, Promise<string>>();

/**
 * The follower behind an upgrade request, when it carries `Authorization: Bearer` with a
 * relay token that the API server reviews as valid for `chakrator.dev/relay` and whose
 * user is `operator`'s own ServiceAccount; otherwise undefined (the caller then treats
 * the request as any other). `operator` is the leader's own client: it makes the
 * TokenReview and says who "own" is. Never throws.
 */
export async function relayPeer(headers: IncomingHttpHeaders, operator: KubeClient): Promise<{ username: string } | undefined> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? "");
  const token = m?.[1];
  if (!token || token.length > 16_384 || !isRelayToken(token)) return undefined;
  try {
    let self = selves.get(operator);
    if (!self) {
      self = whoAmI(operator);
      selves.set(operator, self);
      self.catch(() => selves.delete(operator));
    }
    const own = await self;
    if (!serviceAccountOf(own)) return undefined;
    const key = createHash("sha256").update(token).digest("hex");
    let review = reviews.get(key);
    if (!review || review.expires <= Date.now()) {
      const r = await operator.request<{ status?: { authenticated?: boolean; audiences?: string[]; user?: { username?: string } } }>(
        "POST", "/apis/authentication.k8s.io/v1/tokenreviews",
        { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: [RELAY_AUDIENCE] } } },
      );
      const ok = r.status?.authenticated === true && (r.status.audiences ?? []).includes(RELAY_AUDIENCE);
      review = { username: ok ? r.status?.user?.username : undefined, expires: Date.now() + (ok ? 30_000 : 5_000) };
      if (reviews.size >= 100) reviews.delete(reviews.keys().next().value!);
      reviews.set(key, review);
    }
    return review.username !== undefined && review.username === own ? { username: own } : undefined;
  } catch {
    return undefined;
  }
}
