/**
 * The webhook's certificates, without cert-manager: a CA and a serving certificate the
 * CA signs, kept in one Secret in the operator's namespace so that every replica serves
 * the same certificate and the CA bundle in the webhook configurations trusts them all.
 *
 * Node has no X.509 generation API: keys come from node:crypto (RSA 2048, native and
 * fast), certificates are built and signed with node-forge (pinned), in x509.ts. The
 * store issues in a short-lived process (issuer.ts), so the operator never holds
 * node-forge's memory.
 *
 * Secret `chakrator-webhook-tls` (type kubernetes.io/tls) keys:
 *   tls.crt, tls.key   the serving certificate and its key (what every replica serves)
 *   ca.crt             the CA bundle the webhook configurations carry: the current CA,
 *                      plus the previous CA while certificates it signed may be served
 *   ca.key             the current CA's key (only the leader signs)
 *
 * Rotation (leader only; `rotate`): a certificate is renewed once two thirds of its
 * lifetime have passed (1 year serving, 5 years CA by default: months of margin). A new
 * CA goes into the bundle *before* any certificate it signs is served: `rotate` first
 * writes the bundle (old + new CA) and lets the caller publish it to the webhook
 * configurations, waits for the API server to see them (`bundleGraceMs`), then issues
 * the new serving certificate. A replica still serving the
 * previous certificate stays trusted, so a rotation refuses no request. Expired CAs
 * leave the bundle at the next check.
 *
 * Creation races (two replicas starting at once) are settled by the API server: the
 * second create gets 409 and reads what the first wrote.
 */
import { X509Certificate } from "node:crypto";
import { KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import { BACKDATE_MS, issueCaAndServingInChild, issueInChild } from "./issuer-process.ts";

export const tlsSecretName = "chakrator-webhook-tls";

/** What a replica serves and what the webhook configurations trust. */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** PEM bundle of trusted CAs. */
  caBundle: string;
  caCert: string;
  caKey: string;
  /** The Secret's resourceVersion this came from ("" when not stored). */
  resourceVersion: string;
}

export interface CertificateOptions {
  /** DNS names (and IP addresses) of the serving certificate. */
  hosts: string[];
  caValidityMs?: number;
  servingValidityMs?: number;
  /** Renew when less than this fraction of the lifetime remains. Default 1/3. */
  renewFraction?: number;
  /**
   * After a new CA bundle is published, how long to wait before serving a certificate
   * the new CA signed: the API server picks up a changed webhook configuration through
   * its own watch, a moment later. Default 30 s (rotation is months before expiry).
   */
  bundleGraceMs?: number;
}

const YEAR_MS = 365 * 24 * 3600_000;

/** The validity window of the first certificate in a PEM. */
export function validity(pem: string): { notBefore: number; notAfter: number; serial: string } {
  const x = new X509Certificate(pem);
  return { notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), serial: x.serialNumber };
}

function needsRenewal(pem: string, fraction: number, now = Date.now()): boolean {
  const { notBefore, notAfter } = validity(pem);
  return notAfter - now < (notAfter - (notBefore + BACKDATE_MS)) * fraction;
}

function splitPems(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

function coversHosts(pem: string, hosts: string[]): boolean {
  const names = new X509Certificate(pem).subjectAltName ?? "";
  return hosts.every((h) => names.includes(h));
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text: unknown) => (typeof text === "string" ? Buffer.from(text, "base64").toString("utf8") : "");

function fromSecret(secret: KubeObject): TlsMaterial | undefined {
  const data = (secret["data"] ?? {}) as Record<string, string>;
  const m = { cert: unb64(data["tls.crt"]), key: unb64(data["tls.key"]), caBundle: unb64(data["ca.crt"]), caKey: unb64(data["ca.key"]) };
  if (!m.cert || !m.key || !m.caBundle || !m.caKey) return undefined;
  const caCert = splitPems(m.caBundle).at(-1) ?? "";
  return { ...m, caCert, resourceVersion: secret.metadata.resourceVersion ?? "" };
}

function toSecret(namespace: string, m: Omit<TlsMaterial, "resourceVersion">, resourceVersion?: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: tlsSecretName,
      namespace,
      labels: { "app.kubernetes.io/managed-by": "chakrator" },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(m.cert), "tls.key": b64(m.key), "ca.crt": b64(m.caBundle), "ca.key": b64(m.caKey) },
  };
}

/** Reads, creates and rotates the certificates in their Secret; see the module comment. */
export class CertificateStore {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #o: Required<CertificateOptions>;

  constructor(client: KubeClient, namespace: string, options: CertificateOptions) {
    this.#client = client;
    this.#namespace = namespace;
    this.#o = { caValidityMs: 5 * YEAR_MS, servingValidityMs: YEAR_MS, renewFraction: 1 / 3, bundleGraceMs: 30_000, ...options };
  }

  /** The stored material, or undefined when the Secret is missing or incomplete. */
  async read(): Promise<TlsMaterial | undefined> {
    const secret = await this.#client.get("v1", "Secret", tlsSecretName, this.#namespace);
    return secret ? fromSecret(secret) : undefined;
  }

  /** The stored material, creating it first when there is none (any replica may). */
  async ensure(): Promise<TlsMaterial> {
    const stored = await this.read();
    if (stored) return stored;
    const { ca, serving } = await issueCaAndServingInChild({ caValidityMs: this.#o.caValidityMs, hosts: this.#o.hosts, validityMs: this.#o.servingValidityMs });
    const material = { cert: serving.cert, key: serving.key, caBundle: ca.cert, caCert: ca.cert, caKey: ca.key };
    try {
      const existing = await this.#client.get("v1", "Secret", tlsSecretName, this.#namespace);
      const created = existing ? await this.#client.replace(toSecret(this.#namespace, material, existing.metadata.resourceVersion)) : await this.#client.create(toSecret(this.#namespace, material));
      return { ...material, resourceVersion: created.metadata.resourceVersion ?? "" };
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 409) {
        const winner = await this.read();
        if (winner) return winner;
      }
      throw err;
    }
  }

  /**
   * Leader only. Renews what is due, in an order that never leaves a served certificate
   * untrusted: a new CA is written into the bundle and `publish(bundle)` awaited before
   * a certificate it signed is stored. Resolves to the material now stored (unchanged
   * when nothing was due). A concurrent writer makes it reject with a 409; the next
   * check starts from the fresh Secret.
   */
  async rotate(current: TlsMaterial, publish: (caBundle: string) => Promise<void>): Promise<TlsMaterial> {
    let m = current;
    const now = Date.now();
    const live = splitPems(m.caBundle).filter((pem) => validity(pem).notAfter > now);
    if (live.length !== splitPems(m.caBundle).length && live.length > 0) {
      m = await this.#write({ ...m, caBundle: live.join("") });
    }
    if (needsRenewal(m.caCert, this.#o.renewFraction)) {
      const ca = await issueInChild({ t: "ca", validityMs: this.#o.caValidityMs });
      m = await this.#write({ ...m, caBundle: `${m.caBundle.trimEnd()}\n${ca.cert}`, caCert: ca.cert, caKey: ca.key });
      await publish(m.caBundle);
      await new Promise((resolve) => setTimeout(resolve, this.#o.bundleGraceMs));
      const serving = await issueInChild({ t: "serving", ca: { cert: ca.cert, key: ca.key }, hosts: this.#o.hosts, validityMs: this.#o.servingValidityMs });
      return this.#write({ ...m, cert: serving.cert, key: serving.key });
    }
    if (needsRenewal(m.cert, this.#o.renewFraction) || !coversHosts(m.cert, this.#o.hosts)) {
      const serving = await issueInChild({ t: "serving", ca: { cert: m.caCert, key: m.caKey }, hosts: this.#o.hosts, validityMs: this.#o.servingValidityMs });
      return this.#write({ ...m, cert: serving.cert, key: serving.key });
    }
    return m;
  }

  async #write(m: TlsMaterial): Promise<TlsMaterial> {
    const stored = await this.#client.replace(toSecret(this.#namespace, m, m.resourceVersion));
    return { ...m, resourceVersion: stored.metadata.resourceVersion ?? "" };
  }
}
