/**
 * `SandboxFleet`: one supervised sandbox host process per reconciler, so that one
 * reconciler's code can never slow or break another's. Each host is a `Sandbox`
 * (sandbox.ts) holding only the revisions of its reconciler; editor dry runs get a host
 * of their own (`EDITOR_HOST`). The fleet routes each call to the host of its revision.
 *
 * Guarantees:
 * - A host's death, hang or memory overrun fails only the calls of its own reconciler;
 *   every other host keeps running (their pids do not change).
 * - Hosts start with their reconciler's first revision and stop `idleStopMs` after its
 *   last one is unloaded (the reconciler was deleted).
 * - Across calls, each reconciler's log records go through a token bucket
 *   (`logRate`, default 100/s with a burst of 1000) and each resource's Events through
 *   another (`eventBudget`, 25 then one per 12 s), so that no reconciler floods stdout,
 *   the editor stream or the Event API, even with unique messages. What is dropped is
 *   counted and reported as a `log-rate-limited` / `event-budget-exceeded` event (at
 *   most one per reconciler per 10 s).
 * - Events carry `host`, the reconciler key, so the operator can say whose host it was.
 */
import { EVENT_BUDGET, LOG_RATE, TokenBucket } from "./budgets.ts";
import { SandboxUsageError } from "./errors.ts";
import type { HostStats } from "./protocol.ts";
import { Sandbox } from "./sandbox.ts";
import { EDITOR_HOST } from "./types.ts";
import type { FinalizeResult, ReconcileResult, Resource, ValidateResult } from "../../types/chakrator.d.ts";
import type {
  AdmissionInput, CallMethod, CallOptions, CallOutcome, HostBridge, LoadedRevision, RevisionSource, SandboxEvent, SandboxOptions,
} from "./types.ts";

/** A supervisor event with the key of the host it concerns. */
export type FleetEvent = SandboxEvent & { host: string };

export interface FleetOptions extends Omit<SandboxOptions, "onEvent"> {
  onEvent?: (event: FleetEvent) => void;
  /** Log records per second per reconciler, and the burst. Default 100/s, 1000. */
  logRate?: { perSecond: number; burst: number };
  /** Events per resource: burst, then one per `refillMs`. Default 25, 12 s. */
  eventBudget?: { burst: number; refillMs: number };
  /** How long an empty host lingers before it stops. Default 30 s. */
  idleStopMs?: number;
}

interface HostEntry {
  key: string;
  sandbox: Sandbox;
  logs: TokenBucket;
  droppedLogs: number;
  droppedEvents: number;
  lastReport: number;
  lastResource: string;
  reportTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

const REPORT_EVERY_MS = 10_000;
const MAX_EVENT_BUCKETS = 10_000;

/** The same surface as `Sandbox`, for the stages that load and call revisions. */
export interface RevisionRunner {
  load(source: RevisionSource): Promise<LoadedRevision>;
  call(revisionId: string, method: "reconcile", resource: object, bridge: HostBridge, options?: CallOptions): Promise<ReconcileResult>;
  call(revisionId: string, method: "finalize", resource: object, bridge: HostBridge, options?: CallOptions): Promise<FinalizeResult>;
  call(revisionId: string, method: "validate", input: AdmissionInput, bridge: HostBridge, options?: CallOptions): Promise<ValidateResult>;
  call(revisionId: string, method: "mutate", input: AdmissionInput, bridge: HostBridge, options?: CallOptions): Promise<Resource>;
  call(revisionId: string, method: CallMethod, resource: object, bridge: HostBridge, options?: CallOptions): Promise<CallOutcome>;
  unload(revisionId: string): Promise<void>;
}

export class SandboxFleet implements RevisionRunner {
  private readonly options: FleetOptions;
  private readonly hosts = new Map<string, HostEntry>();
  /** Revision id -> host key. */
  private readonly owners = new Map<string, string>();
  /** Resource uid (or namespace/name) -> its Event bucket; oldest dropped past the cap. */
  private readonly eventBuckets = new Map<string, TokenBucket>();
  private closed = false;

  constructor(options: FleetOptions = {}) {
    this.options = options;
  }

  /** Keys of the hosts that exist (started or starting). */
  get hostKeys(): string[] {
    return [...this.hosts.keys()];
  }

  /** The pid of `key`'s host, if one runs. */
  hostPid(key: string): number | undefined {
    return this.hosts.get(key)?.sandbox.hostPid;
  }

  /** The host key a loaded revision runs in. */
  hostOf(revisionId: string): string | undefined {
    return this.owners.get(revisionId);
  }

  async load(source: RevisionSource): Promise<LoadedRevision> {
    if (this.closed) throw new SandboxUsageError("the sandbox is closed");
    const key = source.host ?? EDITOR_HOST;
    const owner = this.owners.get(source.id);
    if (owner !== undefined && owner !== key) throw new SandboxUsageError(`revision ${source.id} is loaded in another host`);
    const entry = this.entry(key);
    if (entry.idleTimer !== undefined) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = undefined;
    }
    this.owners.set(source.id, key);
    try {
      return await entry.sandbox.load(source);
    } catch (error: unknown) {
      // A failed load loaded nothing (concurrent loads of one id share its outcome).
      this.owners.delete(source.id);
      this.stopIfIdle(entry);
      throw error;
    }
  }

  call(revisionId: string, method: "reconcile", resource: object, bridge: HostBridge, options?: CallOptions): Promise<ReconcileResult>;
  call(revisionId: string, method: "finalize", resource: object, bridge: HostBridge, options?: CallOptions): Promise<FinalizeResult>;
  call(revisionId: string, method: "validate", input: AdmissionInput, bridge: HostBridge, options?: CallOptions): Promise<ValidateResult>;
  call(revisionId: string, method: "mutate", input: AdmissionInput, bridge: HostBridge, options?: CallOptions): Promise<Resource>;
  call(revisionId: string, method: CallMethod, resource: object, bridge: HostBridge, options?: CallOptions): Promise<CallOutcome>;
  async call(revisionId: string, method: CallMethod, resource: object, bridge: HostBridge, options: CallOptions = {}): Promise<CallOutcome> {
    const key = this.owners.get(revisionId);
    const entry = key === undefined ? undefined : this.hosts.get(key);
    if (entry === undefined) throw new SandboxUsageError(`revision ${revisionId} is not loaded`);
    return entry.sandbox.call(revisionId, method, resource, this.limitBridge(entry, bridge, resource), options);
  }

  async unload(revisionId: string): Promise<void> {
    const key = this.owners.get(revisionId);
    const entry = key === undefined ? undefined : this.hosts.get(key);
    if (entry === undefined) return;
    await entry.sandbox.unload(revisionId);
    this.owners.delete(revisionId);
    this.stopIfIdle(entry);
  }

  /** Memory figures of every running host, by key. */
  async stats(): Promise<Record<string, HostStats>> {
    const out: Record<string, HostStats> = {};
    await Promise.all([...this.hosts.values()].map(async (entry) => {
      if (entry.sandbox.hostPid === undefined) return;
      try {
        out[entry.key] = await entry.sandbox.stats();
      } catch {
        // A host that died meanwhile has no figures.
      }
    }));
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.hosts.values()];
    this.hosts.clear();
    for (const entry of entries) {
      clearTimeout(entry.idleTimer);
      clearTimeout(entry.reportTimer);
    }
    await Promise.all(entries.map((entry) => entry.sandbox.close()));
  }

  private entry(key: string): HostEntry {
    let entry = this.hosts.get(key);
    if (entry !== undefined) return entry;
    const { onEvent, logRate, eventBudget: _budget, idleStopMs: _idle, ...sandboxOptions } = this.options;
    const rate = logRate ?? LOG_RATE;
    entry = {
      key,
      sandbox: Sandbox.lazy({ ...sandboxOptions, onEvent: (event) => onEvent?.({ ...event, host: key }) }),
      logs: new TokenBucket(rate.perSecond, rate.burst),
      droppedLogs: 0,
      droppedEvents: 0,
      lastReport: 0,
      lastResource: "",
      reportTimer: undefined,
      idleTimer: undefined,
    };
    this.hosts.set(key, entry);
    return entry;
  }

  private stopIfIdle(entry: HostEntry): void {
    if (entry.sandbox.revisionCount > 0 || entry.idleTimer !== undefined || this.closed) return;
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.sandbox.revisionCount > 0 || this.hosts.get(entry.key) !== entry) return;
      this.hosts.delete(entry.key);
      const pid = entry.sandbox.hostPid;
      void entry.sandbox.close().then(() => {
        if (pid !== undefined) this.options.onEvent?.({ type: "host-stopped", pid, host: entry.key });
      });
    }, this.options.idleStopMs ?? 30_000);
    entry.idleTimer.unref();
  }

  /** The bridge with the reconciler's log rate and the resource's Event budget in front. */
  private limitBridge(entry: HostEntry, bridge: HostBridge, resource: object): HostBridge {
    const budget = this.options.eventBudget ?? EVENT_BUDGET;
    const id = resourceId(resource);
    return {
      get: (kind, name, namespace) => bridge.get(kind, name, namespace),
      list: (kind, options) => bridge.list(kind, options),
      log: (level, message, fields) => {
        if (entry.logs.take()) bridge.log(level, message, fields);
        else {
          entry.droppedLogs++;
          this.report(entry);
        }
      },
      event: (event) => {
        if (this.eventBucket(id, budget).take()) bridge.event(event);
        else {
          entry.droppedEvents++;
          this.report(entry, id);
        }
      },
    };
  }

  private eventBucket(id: string, budget: { burst: number; refillMs: number }): TokenBucket {
    let bucket = this.eventBuckets.get(id);
    if (bucket === undefined) {
      if (this.eventBuckets.size >= MAX_EVENT_BUCKETS) {
        const oldest = this.eventBuckets.keys().next().value;
        if (oldest !== undefined) this.eventBuckets.delete(oldest);
      }
      bucket = new TokenBucket(1000 / budget.refillMs, budget.burst);
      this.eventBuckets.set(id, bucket);
    }
    return bucket;
  }

  /** Reports what was dropped: at once, then at most once per 10 s per reconciler. */
  private report(entry: HostEntry, resource?: string): void {
    if (resource !== undefined) entry.lastResource = resource;
    if (entry.reportTimer !== undefined) return;
    const flush = () => {
      entry.reportTimer = undefined;
      entry.lastReport = performance.now();
      const onEvent = this.options.onEvent;
      if (entry.droppedLogs > 0) {
        onEvent?.({ type: "log-rate-limited", dropped: entry.droppedLogs, ratePerSecond: (this.options.logRate ?? LOG_RATE).perSecond, host: entry.key });
        entry.droppedLogs = 0;
      }
      if (entry.droppedEvents > 0) {
        onEvent?.({ type: "event-budget-exceeded", resource: entry.lastResource, dropped: entry.droppedEvents, host: entry.key });
        entry.droppedEvents = 0;
      }
    };
    const wait = entry.lastReport + REPORT_EVERY_MS - performance.now();
    // The first report goes at once (lastReport 0: performance.now() may be under 10 s).
    if (entry.lastReport === 0 || wait <= 0) flush();
    else {
      entry.reportTimer = setTimeout(flush, wait);
      entry.reportTimer.unref();
    }
  }
}

function resourceId(resource: object): string {
  const meta = (resource as { metadata?: { uid?: unknown; namespace?: unknown; name?: unknown }; object?: { metadata?: { uid?: unknown } } }).metadata;
  if (typeof meta?.uid === "string") return meta.uid;
  return `${String(meta?.namespace ?? "")}/${String(meta?.name ?? "")}`;
}
