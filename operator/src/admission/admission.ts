/**
 * Admission from the reconciler's own TypeScript: the `validate` and `mutate` exports
 * served as webhooks that the operator registers, with certificates it makes itself.
 *
 * Per accepted revision that exports either, `activate` loads an *admission copy* of
 * the revision into the reconciler's sandbox host: the same modules under the id
 * `<revision id>#admission-<ms>-<i>`, with the admission time limit (annotation
 * `chakrator.dev/admission-timeout-ms`, default 1000, always under the webhook's
 * timeoutSeconds). The copies have their own isolates and their own queues, so an
 * admission call never waits behind reconciles, and a slow admission call never delays
 * one. There are `ADMISSION_COPIES` of them (each up to the sandbox's pool size of
 * isolates, built on demand), taken in turn: under many concurrent requests an
 * admission call's time is mostly the trip to the sandbox host and back, and more calls
 * in flight overlap those trips instead of queueing behind two.
 * The target is swapped before `activate` returns, so the next request after a
 * revision is accepted is answered by it.
 *
 * Every replica serves (server.ts) and refreshes its certificate from the Secret
 * (certificates.ts) every `refreshMs`. Only the leader (`startLeading`) writes: the
 * webhook configurations (webhooks.ts) after each revision and on every refresh, the
 * certificate rotation, and the pruning of configurations whose reconciler is gone.
 *
 * Settings (annotations on the reconciler ConfigMap; an edit of one takes effect at once):
 *   chakrator.dev/admission-failure-policy   Fail (default) | Ignore
 *   chakrator.dev/admission-timeout-seconds  the webhook's timeoutSeconds, 1..30 (default 3)
 *   chakrator.dev/admission-timeout-ms       the sandbox's limit per call (default 1000)
 *   chakrator.dev/admission-validate-delete  "true": validate also sees DELETE (default off:
 *                                            a validate written for CREATE and UPDATE could
 *                                            refuse deleting an object that no longer passes it)
 *
 * Why this file is long (420 lines): it is the admission lifecycle of every revision
 * (copies, settings, target swap, leader writes, refresh), whose steps share one state.
 * The stateless parts are apart: review.ts (one request), webhooks.ts (configurations),
 * certificates.ts, server.ts, patch.ts.
 */
import type { Engine } from "../engine/engine.ts";
import type { KubeClient, KubeObject } from "../kube/client.ts";
import { EventRecorder } from "../kube/events.ts";
import { resourceName } from "../kube/informer.ts";
import { sameKind } from "../kube/kind-ref.ts";
import type { HostBridge, Sandbox } from "../sandbox/index.ts";
import type { Compiler } from "../reconcilers/compile-process.ts";
import type { AcceptedRevision, ReconcilerLoader } from "../reconcilers/loader.ts";
import type { LogBus } from "../telemetry/log.ts";
import type { Resource } from "../../types/chakrator.d.ts";
import { CertificateStore, type CertificateOptions, type TlsMaterial } from "./certificates.ts";
import { review, type AdmissionMethod, type AdmissionOutcome, type AdmissionTarget, type FailurePolicy, type ReviewRequest, type ReviewResponse } from "./review.ts";
import { startWebhookServer, type WebhookServer } from "./server.ts";
import { WebhookConfigurations, type WebhookEndpoint } from "./webhooks.ts";

export const failurePolicyAnnotation = "chakrator.dev/admission-failure-policy";
export const timeoutSecondsAnnotation = "chakrator.dev/admission-timeout-seconds";
export const admissionLimitAnnotation = "chakrator.dev/admission-timeout-ms";
export const validateDeleteAnnotation = "chakrator.dev/admission-validate-delete";

export const ADMISSION_DEFAULTS = { failurePolicy: "Fail" as FailurePolicy, timeoutSeconds: 3, limitMs: 1000, validateDelete: false };

/** Admission copies loaded per revision (see the module comment). */
export const ADMISSION_COPIES = 4;

export interface AdmissionOptions {
  /** Where the webhook listens. */
  listen: { host: string; port: number };
  /** The operator's namespace: where the certificate Secret lives. */
  namespace: string;
  /** How the API server reaches it; default a `url` of the listen address (loopback, local runs and tests). */
  service?: { namespace: string; name: string; port: number };
  /** Label value that marks this operator's webhook configurations. Default "chakrator". */
  instance?: string;
  /** Certificate refresh (and, on the leader, rotation check) period. Default 60 s. */
  refreshMs?: number;
  certificates?: Omit<CertificateOptions, "hosts">;
  /**
   * Reads that miss the caches (a follower runs no controllers) go to the API server as
   * the revision's ServiceAccount, as the engine's do, instead of as the operator.
   */
  impersonate?: boolean;
  onOutcome?: (reconciler: string, method: AdmissionMethod, outcome: AdmissionOutcome, seconds: number) => void;
}

export interface AdmissionDeps {
  client: KubeClient;
  /** The sandbox (one host or the fleet of per-reconciler hosts). */
  sandbox: Pick<Sandbox, "load" | "call" | "unload">;
  compiler: Compiler;
  events: EventRecorder;
  log: LogBus;
  /** The live reconciler ConfigMap from the source manager's cache. */
  configMap(namespace: string, name: string): KubeObject | undefined;
  /** ctx.get/list for a reconciler's admission calls. */
  reader(reconciler: string): Pick<HostBridge, "get" | "list">;
}

interface Entry {
  rev: AcceptedRevision;
  target: AdmissionTarget;
  /** The admission copies' sandbox ids, when loaded (else the target uses the revision itself). */
  copies: string[];
}

/** The parts of a started operator admission uses. */
export interface OperatorParts {
  client: KubeClient;
  sandbox: AdmissionDeps["sandbox"];
  compiler: Compiler;
  log: LogBus;
  sources: Pick<ReconcilerLoader, "configMap">;
  engine: Pick<Engine, "controller">;
}

/**
 * ctx.get/list of admission calls: from the reconciler's caches where this replica runs
 * its controller (the leader), else from the API server; only declared kinds either way.
 */
function readerFor(parts: OperatorParts, reconciler: string, rev: () => AcceptedRevision | undefined, impersonate: boolean): Pick<HostBridge, "get" | "list"> {
  const declared = (kind: { apiVersion: string; kind: string }) => {
    const loaded = rev()?.loaded;
    const ok = loaded !== undefined && kind != null && [loaded.for, ...loaded.owns].some((k) => sameKind(k, kind));
    if (!ok) throw new Error(`ctx.get/list: kind ${kind?.apiVersion}/${kind?.kind} is not declared in for or owns`);
  };
  const api = () => {
    const account = rev()?.serviceAccount;
    if (!impersonate || !account) return parts.client;
    const [namespace, name] = account.split("/") as [string, string];
    return parts.client.impersonating(`system:serviceaccount:${namespace}:${name}`, []);
  };
  const cache = (kind: { apiVersion: string; kind: string }) => {
    const controller = parts.engine.controller(reconciler);
    return controller?.isStarted ? controller.informerFor(kind) : undefined;
  };
  return {
    get: async (kind, name, namespace) => {
      declared(kind);
      const informer = cache(kind);
      if (informer) return informer.get(namespace, name) as Resource | undefined;
      return (await api().get(kind.apiVersion, kind.kind, name, namespace)) as Resource | undefined;
    },
    list: async (kind, options) => {
      declared(kind);
      const informer = cache(kind);
      if (informer) return informer.list(options?.namespace, options?.labels) as Resource[];
      const selector = Object.entries(options?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
      const list = await api().list(kind.apiVersion, kind.kind, { ...(options?.namespace ? { namespace: options.namespace } : {}), ...(selector ? { labelSelector: selector } : {}) });
      return list.items as Resource[];
    },
  };
}

/** See the module comment. */
export class Admission {
  readonly #d: AdmissionDeps;
  readonly #o: AdmissionOptions;
  readonly #server: WebhookServer;
  readonly #certs: CertificateStore;
  readonly #configs: WebhookConfigurations;
  readonly #entries = new Map<string, Entry>();
  readonly #serial = new Map<string, Promise<void>>();
  #tls: TlsMaterial;
  #leading = false;
  #writes: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #stopped = false;

  private constructor(d: AdmissionDeps, o: AdmissionOptions, server: WebhookServer, certs: CertificateStore, tls: TlsMaterial) {
    this.#d = d;
    this.#o = o;
    this.#server = server;
    this.#certs = certs;
    this.#tls = tls;
    const endpoint: WebhookEndpoint = o.service ? { service: o.service } : { url: server.url };
    this.#configs = new WebhookConfigurations({ client: d.client, endpoint, instance: o.instance ?? "chakrator" });
  }

  /** Starts admission for a started operator (run.ts). */
  static forOperator(parts: OperatorParts, o: AdmissionOptions): Promise<Admission> {
    let self: Admission | undefined;
    const events = new EventRecorder(parts.client, { onError: (err) => parts.log.log("warn", `could not record an Event: ${err instanceof Error ? err.message : String(err)}`) });
    return Admission.start({
      client: parts.client,
      sandbox: parts.sandbox,
      compiler: parts.compiler,
      events,
      log: parts.log,
      configMap: (ns, n) => parts.sources.configMap(ns, n),
      reader: (reconciler) => readerFor(parts, reconciler, () => self?.revision(reconciler), o.impersonate ?? false),
    }, o).then((admission) => (self = admission));
  }

  /** Reads (or creates) the certificates and starts serving. */
  static async start(d: AdmissionDeps, o: AdmissionOptions): Promise<Admission> {
    const hosts = o.service
      ? [`${o.service.name}.${o.service.namespace}.svc`, `${o.service.name}.${o.service.namespace}.svc.cluster.local`, `${o.service.name}.${o.service.namespace}`, o.service.name]
      : ["127.0.0.1", "localhost", "::1"];
    const certs = new CertificateStore(d.client, o.namespace, { ...o.certificates, hosts });
    const tls = await certs.ensure();
    let self: Admission | undefined;
    const server = await startWebhookServer(o.listen, tls, (method, reconciler, request) => self!.handle(method, reconciler, request));
    self = new Admission(d, o, server, certs, tls);
    self.#timer = setInterval(() => void self.#refresh(), o.refreshMs ?? 60_000);
    self.#timer.unref();
    return self;
  }

  /** The webhook's base URL as bound (`https://127.0.0.1:<port>`). */
  get url(): string {
    return this.#server.url;
  }

  /** The certificate material this replica serves now. */
  get tls(): TlsMaterial {
    return this.#tls;
  }

  /** The revision whose admission runs for `reconciler` now, if any. */
  revision(reconciler: string): AcceptedRevision | undefined {
    return this.#entries.get(reconciler)?.rev;
  }

  /** What admission runs for `reconciler` now, if anything. */
  target(reconciler: string): AdmissionTarget | undefined {
    return this.#entries.get(reconciler)?.target;
  }

  /** Answers one AdmissionReview request (the server calls it; tests and the CLI may too). */
  handle(method: AdmissionMethod, reconciler: string, request: ReviewRequest): Promise<ReviewResponse> {
    return review({
      sandbox: this.#d.sandbox,
      bridge: (target, object) => this.#bridge(target, object),
      onFailure: (target, m, message) => {
        this.#d.log.child({ reconciler: target.reconciler, revision: target.number }).warn(`admission ${m} failed: ${message}`);
        const [ns, name] = target.reconciler.split("/") as [string, string];
        const cm = this.#d.configMap(ns, name);
        if (cm) void this.#d.events.record(cm, { type: "Warning", reason: "AdmissionFailed", message });
      },
      onOutcome: (target, m, outcome, seconds) => this.#o.onOutcome?.(target?.reconciler ?? reconciler, m, outcome, seconds),
    }, method, this.#entries.get(reconciler)?.target, request);
  }

  /** A revision was accepted: swap in its admission (or drop it, when it exports neither). */
  activate(rev: AcceptedRevision): Promise<void> {
    return this.#inOrder(rev.reconciler, () => this.#activate(rev, false));
  }

  /** The reconciler ConfigMap changed (maybe only its annotations): re-read the settings. */
  settingsChanged(reconciler: string): void {
    const entry = this.#entries.get(reconciler);
    if (entry) void this.#inOrder(reconciler, () => this.#activate(entry.rev, true));
  }

  /** The reconciler is gone: stop serving it, and (leader) delete its configurations. */
  remove(reconciler: string): Promise<void> {
    return this.#inOrder(reconciler, async () => {
      const entry = this.#entries.get(reconciler);
      this.#entries.delete(reconciler);
      for (const copy of entry?.copies ?? []) await this.#d.sandbox.unload(copy);
      if (this.#leading) await this.#write(() => this.#configs.remove(reconciler), reconciler);
    });
  }

  /** This replica became the leader: prune, write every configuration, rotate when due. */
  startLeading(): void {
    this.#leading = true;
    void this.#refresh();
  }

  /** Resolves when the configuration writes queued so far are done (tests). */
  async settled(): Promise<void> {
    await Promise.all(this.#serial.values());
    await this.#writes;
  }

  /**
   * Stops serving and writing. Waits (up to 5 s) for a refresh and queued writes in
   * progress, so that nothing uses the operator's client after it is closed.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)));
    await Promise.race([Promise.all([this.#refreshing, this.settled()]), cap]);
    clearTimeout(timer);
    await this.#server.close();
  }

  async #activate(rev: AcceptedRevision, settingsOnly: boolean): Promise<void> {
    const key = rev.reconciler;
    const previous = this.#entries.get(key);
    if (!rev.loaded.hasValidate && !rev.loaded.hasMutate) {
      this.#entries.delete(key);
      for (const copy of previous?.copies ?? []) void this.#d.sandbox.unload(copy);
      if (this.#leading && previous) await this.#write(() => this.#configs.remove(key), key);
      return;
    }
    const [ns, name] = key.split("/") as [string, string];
    const cm = this.#d.configMap(ns, name);
    const settings = this.#settings(cm, key, rev.number);
    const copyIds = Array.from({ length: ADMISSION_COPIES }, (_, i) => `${rev.sandboxId}#admission-${settings.limitMs}-${i}`);
    let copies: string[] = [];
    if (previous?.rev === rev && previous.copies.join() === copyIds.join()) {
      copies = copyIds;
    } else {
      // The source manager keeps no modules: compile the ConfigMap again (warm, ~20 ms) and
      // use it only if it is this revision's source. If it moved on meanwhile, the next
      // revision comes here soon; until then admission runs in the revision's own isolates.
      const compiled = cm ? await this.#d.compiler.compile((cm["data"] ?? {}) as Record<string, string>) : undefined;
      if (compiled?.ok && compiled.hash === rev.hash) {
        for (const id of copyIds) {
          const source = { id, modules: compiled.modules, entry: compiled.entry, limits: { timeoutMs: settings.limitMs, memoryMb: rev.loaded.limits.memoryMb }, host: key };
          await this.#d.sandbox.load(source);
        }
        copies = copyIds;
      } else if (settingsOnly && previous?.rev === rev) {
        copies = previous.copies;
      }
    }
    const target: AdmissionTarget = {
      reconciler: key,
      number: rev.number,
      sandboxIds: copies.length > 0 ? copies : [rev.sandboxId],
      for: rev.loaded.for,
      hasValidate: rev.loaded.hasValidate === true,
      hasMutate: rev.loaded.hasMutate === true,
      failurePolicy: settings.failurePolicy,
      timeoutSeconds: settings.timeoutSeconds,
      validateDelete: settings.validateDelete,
    };
    this.#entries.set(key, { rev, target, copies });
    for (const copy of previous?.copies ?? []) if (!copies.includes(copy)) void this.#d.sandbox.unload(copy);
    if (this.#leading) await this.#write(() => this.#configs.apply(target, rev.namespace, this.#tls.caBundle), key);
  }

  #settings(cm: KubeObject | undefined, reconciler: string, revision: number): { failurePolicy: FailurePolicy; timeoutSeconds: number; limitMs: number; validateDelete: boolean } {
    const a = cm?.metadata.annotations ?? {};
    const warn = (annotation: string, raw: string, used: string | number) =>
      this.#d.log.child({ reconciler, revision }).warn(`annotation ${annotation}: "${raw}" is not valid; using ${used}`);
    let failurePolicy = ADMISSION_DEFAULTS.failurePolicy;
    const policy = a[failurePolicyAnnotation];
    if (policy === "Fail" || policy === "Ignore") failurePolicy = policy;
    else if (policy !== undefined) warn(failurePolicyAnnotation, policy, failurePolicy);
    let timeoutSeconds = ADMISSION_DEFAULTS.timeoutSeconds;
    const seconds = a[timeoutSecondsAnnotation];
    if (seconds !== undefined) {
      const n = Number(seconds);
      if (Number.isInteger(n) && n >= 1 && n <= 30) timeoutSeconds = n;
      else warn(timeoutSecondsAnnotation, seconds, timeoutSeconds);
    }
    // The sandbox limit stays under the webhook's timeout, with room for the answer's way back.
    const ceiling = timeoutSeconds * 1000 - 500;
    let limitMs = Math.min(ADMISSION_DEFAULTS.limitMs, ceiling);
    const ms = a[admissionLimitAnnotation];
    if (ms !== undefined) {
      const n = Number(ms);
      if (Number.isInteger(n) && n >= 10) limitMs = Math.min(n, ceiling);
      else warn(admissionLimitAnnotation, ms, limitMs);
    }
    let validateDelete = ADMISSION_DEFAULTS.validateDelete;
    const onDelete = a[validateDeleteAnnotation];
    if (onDelete === "true" || onDelete === "false") validateDelete = onDelete === "true";
    else if (onDelete !== undefined) warn(validateDeleteAnnotation, onDelete, String(validateDelete));
    return { failurePolicy, timeoutSeconds, limitMs, validateDelete };
  }

  #bridge(target: AdmissionTarget, object: KubeObject): HostBridge {
    const reader = this.#d.reader(target.reconciler);
    const log = this.#d.log.child({ reconciler: target.reconciler, revision: target.number, resource: resourceName(object), source: "user" });
    return {
      get: (kind, name, namespace) => reader.get(kind, name, namespace ?? object.metadata.namespace),
      list: (kind, options) => reader.list(kind, options),
      log: (level, message, fields) => log.log(level, message, fields ? { fields } : undefined),
      event: (e) => log.info(`ctx.event during admission is logged, not recorded: ${e.reason}: ${e.message}`),
    };
  }

  /** Serializes the work of one reconciler. */
  #inOrder(key: string, work: () => Promise<void>): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const next = (this.#serial.get(key) ?? Promise.resolve()).then(work).catch((err: unknown) => {
      this.#d.log.child({ reconciler: key }).error(`admission: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.#serial.set(key, next);
    void next.finally(() => {
      if (this.#serial.get(key) === next) this.#serial.delete(key);
    });
    return next;
  }

  /** Queues a configuration write (one at a time); a failure is logged and retried at the next refresh. */
  #write(work: () => Promise<unknown>, reconciler?: string): Promise<void> {
    const next = this.#writes.then(() => (this.#stopped ? undefined : work())).then(() => {}, (err: unknown) => {
      this.#d.log.log("warn", `could not write webhook configuration: ${err instanceof Error ? err.message : String(err)}; retrying at the next refresh`, reconciler ? { reconciler } : undefined);
    });
    this.#writes = next;
    return next;
  }

  /** Every replica: pick up a renewed certificate. Leader: rotate when due, rewrite configurations, prune. */
  #refresh(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#refreshing ??= this.#refreshNow().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refreshNow(): Promise<void> {
    try {
      const stored = await this.#certs.read();
      if (stored && stored.resourceVersion !== this.#tls.resourceVersion) this.#serve(stored);
      if (!this.#leading || this.#stopped) return;
      const rotated = await this.#certs.rotate(this.#tls, async (caBundle) => {
        this.#tls = { ...this.#tls, caBundle };
        await this.#publishAll();
      });
      if (rotated.resourceVersion !== this.#tls.resourceVersion || rotated.cert !== this.#tls.cert) this.#serve(rotated);
      await this.#publishAll();
    } catch (err: unknown) {
      this.#d.log.log("warn", `webhook certificate refresh failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #serve(tls: TlsMaterial): void {
    if (tls.cert !== this.#tls.cert) this.#server.setCertificate(tls.cert, tls.key);
    this.#tls = tls;
  }

  async #publishAll(): Promise<void> {
    for (const entry of this.#entries.values()) {
      await this.#write(() => this.#configs.apply(entry.target, entry.rev.namespace, this.#tls.caBundle), entry.target.reconciler);
    }
    await this.#write(() => this.#configs.prune((reconciler, method) => {
      const target = this.#entries.get(reconciler)?.target;
      return method === "validate" ? target?.hasValidate === true : target?.hasMutate === true;
    }));
  }
}
