/**
 * The webhook configurations the operator keeps: per reconciler whose active revision
 * exports `validate` (or `mutate`), one ValidatingWebhookConfiguration (or
 * MutatingWebhookConfiguration) named `chakrator.<namespace>.<name>`, covering CREATE
 * and UPDATE of the `for` kind only (not its subresources, so the engine's status
 * writes never go through it), within the reconciler's scope: a namespaceSelector on
 * `kubernetes.io/metadata.name` (which the API server sets on every namespace) unless
 * the reconciler watches all namespaces.
 *
 * Only the leader calls `apply`/`remove`/`prune`; every replica serves the webhook.
 * Writes are server-side apply (field manager `chakrator`), so re-applying an unchanged
 * configuration is a no-op for the API server. The configurations carry the label
 * `chakrator.dev/instance`, so `prune` (on becoming leader) deletes only those of this
 * operator whose reconciler or export is gone, e.g. deleted while it was down.
 */
import type { KubeClient, KubeObject } from "../kube/client.ts";
import type { AdmissionMethod, AdmissionTarget } from "./review.ts";

const API = "admissionregistration.k8s.io/v1";
const KINDS = { validate: "ValidatingWebhookConfiguration", mutate: "MutatingWebhookConfiguration" } as const;
export const instanceLabel = "chakrator.dev/instance";
export const reconcilerAnnotation = "chakrator.dev/reconciler";

/** Where the API server reaches the webhook: a Service in a cluster, a URL (loopback) otherwise. */
export type WebhookEndpoint =
  | { url: string }
  | { service: { namespace: string; name: string; port: number } };

export interface WebhookSettings {
  client: KubeClient;
  endpoint: WebhookEndpoint;
  /** This operator's instance name (the `chakrator.dev/instance` label). */
  instance: string;
}

/** The configuration name of a reconciler key `namespace/name`. */
export function configurationName(reconciler: string): string {
  return `chakrator.${reconciler.replace("/", ".")}`;
}

/** The path the webhook serves a reconciler's method on. */
export function webhookPath(method: AdmissionMethod, reconciler: string): string {
  return `/${method}/${reconciler}`;
}

/** Keeps the configurations of reconcilers; see the module comment. */
export class WebhookConfigurations {
  readonly #s: WebhookSettings;

  constructor(settings: WebhookSettings) {
    this.#s = settings;
  }

  /** Creates, updates or deletes both configurations of `target` to match what it exports. */
  async apply(target: AdmissionTarget, scope: string | undefined, caBundle: string): Promise<void> {
    const info = await this.#s.client.resource(target.for.apiVersion, target.for.kind);
    for (const method of ["validate", "mutate"] as const) {
      const wanted = method === "validate" ? target.hasValidate : target.hasMutate;
      if (!wanted) {
        await this.#s.client.delete(API, KINDS[method], configurationName(target.reconciler));
        continue;
      }
      const [group, version] = target.for.apiVersion.includes("/") ? target.for.apiVersion.split("/") as [string, string] : ["", target.for.apiVersion];
      const path = webhookPath(method, target.reconciler);
      const clientConfig = "url" in this.#s.endpoint
        ? { url: `${this.#s.endpoint.url}${path}`, caBundle: Buffer.from(caBundle).toString("base64") }
        : { service: { ...this.#s.endpoint.service, path }, caBundle: Buffer.from(caBundle).toString("base64") };
      const [ns, name] = target.reconciler.split("/") as [string, string];
      const webhook: Record<string, unknown> = {
        name: `${name}.${ns}.${method}.chakrator.dev`,
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: target.failurePolicy,
        timeoutSeconds: target.timeoutSeconds,
        matchPolicy: "Equivalent",
        clientConfig,
        rules: [{ apiGroups: [group], apiVersions: [version], resources: [info.plural], operations: method === "validate" && target.validateDelete ? ["CREATE", "UPDATE", "DELETE"] : ["CREATE", "UPDATE"], scope: info.namespaced ? "Namespaced" : "Cluster" }],
        ...(info.namespaced && scope !== undefined ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": scope } } } : {}),
        ...(method === "mutate" ? { reinvocationPolicy: "Never" } : {}),
      };
      const config: KubeObject = {
        apiVersion: API,
        kind: KINDS[method],
        metadata: {
          name: configurationName(target.reconciler),
          labels: { "app.kubernetes.io/managed-by": "chakrator", [instanceLabel]: this.#s.instance },
          annotations: { [reconcilerAnnotation]: target.reconciler, "chakrator.dev/revision": String(target.number) },
        },
        webhooks: [webhook],
      };
      await this.#s.client.apply(config, { fieldManager: "chakrator", force: true });
    }
  }

  /** Deletes both configurations of `reconciler`. */
  async remove(reconciler: string): Promise<void> {
    for (const method of ["validate", "mutate"] as const) await this.#s.client.delete(API, KINDS[method], configurationName(reconciler));
  }

  /** Deletes this instance's configurations that `keep` (reconciler key → methods) does not list. */
  async prune(keep: (reconciler: string, method: AdmissionMethod) => boolean): Promise<number> {
    let deleted = 0;
    for (const method of ["validate", "mutate"] as const) {
      const list = await this.#s.client.list(API, KINDS[method], { labelSelector: `${instanceLabel}=${this.#s.instance}` });
      for (const item of list.items) {
        const reconciler = item.metadata.annotations?.[reconcilerAnnotation] ?? "";
        if (!keep(reconciler, method) && await this.#s.client.delete(API, KINDS[method], item.metadata.name)) deleted++;
      }
    }
    return deleted;
  }
}
