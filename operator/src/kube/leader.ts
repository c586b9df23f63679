/**
 * Leader election on a `coordination.k8s.io/v1` Lease, modelled on client-go's
 * leaderelection package, with its defaults: lease 15 s, renew deadline 10 s, retry 2 s.
 *
 * - A candidate tries to acquire or renew every `retryMs`. Writes carry the Lease's
 *   resourceVersion, so two candidates can never both win one round (the loser gets 409).
 * - Expiry is judged by *our* clock: a follower notes when it last saw the Lease record
 *   change and takes over only after `leaseMs` without a change, so clock skew between
 *   machines does not matter (as client-go's observedTime).
 * - A leader that cannot renew within `renewDeadlineMs` stops leading *before* its
 *   lease can expire for others (renew deadline < lease duration), and `onStoppedLeading`
 *   runs: the caller must stop reconciling at once.
 * - `release()` (graceful shutdown) empties the holder and shortens the lease, so a
 *   follower takes over within one retry period instead of a whole lease.
 */
import { KubeApiError, type KubeClient, type KubeObject } from "./client.ts";

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseMs?: number;
  renewDeadlineMs?: number;
  retryMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  /** Called when the Lease names a new holder, with the Lease's annotations (e.g. its editor address). */
  onNewLeader?: (identity: string, annotations: Record<string, string>) => void;
  /** Written on the Lease while we hold it (e.g. `chakrator.dev/editor-url`). */
  annotations?: Record<string, string>;
  onError?: (err: unknown) => void;
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** One candidate; `run()` until `stop()`. */
export class LeaderElector {
  readonly #o: Required<Pick<LeaderElectionOptions, "leaseMs" | "renewDeadlineMs" | "retryMs">> & LeaderElectionOptions;
  #leading = false;
  #stopped = false;
  #observed: { record: string; at: number } | undefined;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #leader = "";

  constructor(options: LeaderElectionOptions) {
    this.#o = { leaseMs: 15_000, renewDeadlineMs: 10_000, retryMs: 2_000, ...options };
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** The identity the Lease names now, as last observed. */
  get leader(): string {
    return this.#leader;
  }

  /** Campaigns, leads and renews until `stop()`. */
  async run(): Promise<void> {
    while (!this.#stopped) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err: unknown) {
        this.#o.onError?.(err);
      }
      const now = Date.now();
      if (ok) {
        this.#lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          this.#o.onStartedLeading();
        }
      } else if (this.#leading && now - this.#lastRenew > this.#o.renewDeadlineMs) {
        this.#leading = false;
        this.#o.onStoppedLeading();
      }
      await new Promise<void>((r) => {
        this.#wake = r;
        this.#timer = setTimeout(r, this.#o.retryMs * (this.#leading ? 1 : 0.8 + Math.random() * 0.4));
      });
    }
  }

  /** Stops campaigning. Call `release()` first to hand over at once. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
  }

  /** Gives the lease up if we hold it (graceful shutdown). Never throws. */
  async release(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#get();
      if (!lease || lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = micro(new Date());
      await this.#o.client.replace<Lease>({ ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now, acquireTime: now } });
    } catch (err: unknown) {
      this.#o.onError?.(err);
    }
  }

  #get(): Promise<Lease | undefined> {
    return this.#o.client.get<Lease>("coordination.k8s.io/v1", "Lease", this.#o.name, this.#o.namespace);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.#o;
    const now = new Date();
    const spec = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.#o.leaseMs / 1000), acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 };
    const lease = await this.#get();
    if (!lease) {
      try {
        await client.create<Lease>({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace, annotations: this.#o.annotations ?? {} }, spec });
        this.#observe(identity, JSON.stringify(spec), this.#o.annotations ?? {});
        return true;
      } catch (err: unknown) {
        if (err instanceof KubeApiError && err.status === 409) return false;
        throw err;
      }
    }
    const holder = lease.spec?.holderIdentity ?? "";
    const record = JSON.stringify(lease.spec ?? {});
    this.#observe(holder, record, lease.metadata.annotations ?? {});
    const expired = holder === "" ||
      Date.now() - this.#observed!.at > (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder !== identity && !expired) return false;
    const next = { ...spec };
    if (holder === identity) {
      next.acquireTime = lease.spec?.acquireTime ?? spec.acquireTime;
      next.leaseTransitions = lease.spec?.leaseTransitions ?? 0;
    } else {
      next.leaseTransitions = (lease.spec?.leaseTransitions ?? 0) + 1;
    }
    try {
      const metadata = this.#o.annotations ? { ...lease.metadata, annotations: { ...lease.metadata.annotations, ...this.#o.annotations } } : lease.metadata;
      await client.replace<Lease>({ ...lease, metadata, spec: next });
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
    this.#observe(identity, JSON.stringify(next), this.#o.annotations ?? {});
    return true;
  }

  #observe(holder: string, record: string, annotations: Record<string, string>): void {
    if (this.#observed?.record !== record) this.#observed = { record, at: Date.now() };
    if (holder !== this.#leader) {
      this.#leader = holder;
      if (holder) this.#o.onNewLeader?.(holder, annotations);
    }
  }
}

/** MicroTime as the API expects it: RFC 3339 with microseconds. */
function micro(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
