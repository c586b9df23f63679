/**
 * `Sandbox`: the operator's side of ONE sandbox host process (see `host.ts`). It keeps
 * the revisions loaded in that host and turns calls into host requests. The operator
 * runs one `Sandbox` per reconciler (`fleet.ts`), so everything below concerns only
 * the reconciler whose revisions live here.
 *
 * Guarantees:
 * - User code never runs in the operator process; the operator never dies of it.
 * - At most `poolSize` calls of one revision are in the host at once; more wait here,
 *   in order, and can be aborted while waiting.
 * - Every call settles: with its result, or one of the errors in `errors.ts`. The host
 *   enforces each call's CPU-time and wall-clock limits (limits.ts); a backstop here
 *   (wall-clock limit + time limit + 2 s) kills a host that does not answer a call.
 * - Hung versus busy: the host's main thread answers a heartbeat every second even
 *   while calls run (isolates run on their own threads). No answer for
 *   `heartbeatTimeoutMs` means the host itself is stuck: it is killed (`hung`).
 * - Memory: the host's RSS is read every 250 ms and the host killed above its cap (the
 *   largest `hostMemoryMb` of its revisions, by default derived from their isolate
 *   limits, never above `maxHostMemoryMb`); in-flight calls fail with
 *   `HostMemoryLimitError`.
 * - A dead host is restarted lazily, by the next load or call that needs it, after a
 *   backoff that grows while it keeps dying (0, 250 ms, 500 ms … 30 s; reset after
 *   30 s up). Its revisions are loaded again first.
 * - Quarantine: a revision that had a call in flight when its host crashed, hung or
 *   ran out of memory `quarantineStrikes` times within `quarantineWindowMs` is
 *   quarantined: its calls fail at once with `QuarantinedError` (naming the last cause)
 *   for 1 min, doubling with each further quarantine up to 15 min; after that one call
 *   is let through, and a success ends it. Unloading the revision forgets all of it, so
 *   a new revision or a rollback starts clean.
 *
 * Why this file is long (570 lines): the supervision of one host is one state machine
 * (host up or restarting, revisions to reload, requests in flight, strikes, demotion),
 * and its parts change together. What stands alone is already apart: limits.ts,
 * errors.ts, protocol.ts, the child-process supervisor in child/, and fleet.ts above it.
 */
import { jsEntry } from "../child/js-entry.ts";
import { Replies } from "../child/replies.ts";
import { SupervisedChild, type ExitReason } from "../child/supervised.ts";
import {
  CallAbortedError, HostMemoryLimitError, InvalidResultError, LoadError, MemoryLimitError, QuarantinedError, SandboxCrashedError,
  SandboxUsageError, TimeoutError, UserCodeError, type CallSite,
} from "./errors.ts";
import { clampLimits, defaultHostMemoryMb, resolveOptions, wallLimitMs, type ResolvedOptions } from "./limits.ts";
import type { HostMessage, HostRequest, HostStats, RevisionMeta, RevisionSpec } from "./protocol.ts";
import { Semaphore } from "./semaphore.ts";
import type { FinalizeResult, ReconcileResult, Resource, ValidateResult } from "../../types/chakrator.d.ts";
import type {
  AdmissionInput, CallMethod, CallOptions, CallOutcome, HostBridge, LoadedRevision, RevisionSource, SandboxEvent, SandboxOptions,
} from "./types.ts";
import { fileURLToPath } from "node:url";

const HOST_SOURCE = fileURLToPath(new URL("./host.ts", import.meta.url));
const BACKSTOP_MARGIN_MS = 2000;
const LOAD_MARGIN_MS = 10_000;
const HEALTHY_AFTER_MS = 30_000;
const BACKOFF_MS = [0, 250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000] as const;
const QUARANTINE_MAX_MS = 15 * 60_000;

interface CallMeta {
  site: CallSite;
  bridge: HostBridge;
  revision: RevisionState;
  signal: AbortSignal | undefined;
}

interface RequestMeta {
  /** The revision a load is for, to name it in a `LoadError`. */
  loads?: string;
  call?: CallMeta;
}

interface Quarantine {
  strikes: number[];
  /** Quarantines so far without a success in between: sets the next duration. */
  count: number;
  until: number;
  lastCause: string;
}

interface RevisionState {
  spec: RevisionSpec;
  loaded: LoadedRevision;
  /** RSS cap this revision asks of its host. */
  hostMemoryMb: number;
  semaphore: Semaphore;
  inFlight: number;
  unloading: Promise<void> | undefined;
  drained: () => void;
  broken: LoadError | undefined;
  quarantine: Quarantine;
  /** Calls of this revision that failed in its own code, in a row (demotes the host at 3). */
  failStreak: number;
}

type Host = SupervisedChild<HostRequest, HostMessage>;

export class Sandbox {
  private readonly options: ResolvedOptions;
  private host: Host | undefined;
  /** True while `host` is started and has every revision loaded. */
  private up = false;
  /** The host burnt a call's whole time limit: it runs at the lowest CPU priority until it is recycled. */
  private demoted = false;
  /** The revision whose call got the host demoted: unloading it (a fix replaced it) recycles the host. */
  private demotedBy: string | undefined;
  /** Stop the host once no call runs (a demoted host whose reconciler got a new revision). */
  private recycle = false;
  private starting: Promise<void> | undefined;
  private generation = 0;
  private startedAt = 0;
  private crashes = 0;
  private wakeRestart: (() => void) | undefined;
  private closed = false;
  private readonly revisions = new Map<string, RevisionState>();
  private readonly loading = new Map<string, Promise<LoadedRevision>>();
  private readonly replies = new Replies<RequestMeta>();

  private constructor(options: ResolvedOptions) {
    this.options = options;
  }

  /** Starts a sandbox host and resolves once it answers; rejects if it cannot start. */
  static async start(options: SandboxOptions = {}): Promise<Sandbox> {
    const sandbox = new Sandbox(resolveOptions(options));
    await sandbox.ensureHost();
    return sandbox;
  }

  /** A sandbox whose host starts with the first load (the fleet starts hosts on demand). */
  static lazy(options: SandboxOptions = {}): Sandbox {
    return new Sandbox(resolveOptions(options));
  }

  /** The current host's process id (undefined while none runs): for diagnostics and tests. */
  get hostPid(): number | undefined {
    return this.up ? this.host?.pid : undefined;
  }

  /** How many revisions are loaded (the fleet stops an empty host). */
  get revisionCount(): number {
    return this.revisions.size + this.loading.size;
  }

  /** The host's RSS cap now, in bytes. */
  hostMemoryCapBytes(): number {
    let mb = 0;
    for (const revision of this.revisions.values()) mb = Math.max(mb, revision.hostMemoryMb);
    if (mb === 0) mb = this.options.maxHostMemoryMb;
    return Math.min(mb, this.options.maxHostMemoryMb) * 1024 * 1024;
  }

  /**
   * Loads a revision in a fresh isolate and reads its default export. Loading an id that
   * is loaded resolves to the loaded revision. Rejects with `LoadError` (syntax error,
   * unresolvable import, throw/timeout/OOM at evaluation, bad default export),
   * `SandboxCrashedError` (host died meanwhile) or `SandboxUsageError` (bad input, closed).
   */
  async load(source: RevisionSource): Promise<LoadedRevision> {
    this.assertOpen();
    if (typeof source.id !== "string" || source.id === "") throw new SandboxUsageError("a revision needs a non-empty string id");
    if (typeof source.modules !== "object" || source.modules === null || Object.values(source.modules).some((code) => typeof code !== "string")) {
      throw new SandboxUsageError(`revision ${source.id}: modules must map file names to JavaScript source`);
    }
    if (!Object.hasOwn(source.modules, source.entry)) throw new LoadError(source.id, `the entry module "${source.entry}" is not among its modules`);
    const existing = this.revisions.get(source.id);
    if (existing?.unloading !== undefined) await existing.unloading;
    else if (existing !== undefined) return existing.loaded;
    const inProgress = this.loading.get(source.id);
    if (inProgress !== undefined) return inProgress;
    const loading = this.loadNew(source);
    this.loading.set(source.id, loading);
    try {
      return await loading;
    } finally {
      this.loading.delete(source.id);
    }
  }

  /**
   * Runs `method` of a loaded revision on a JSON copy of `resource`, with `bridge` as
   * the operator's side of `ctx`. Resolves to the JSON-copied, shape-checked result.
   * Rejects with `UserCodeError`, `TimeoutError`, `MemoryLimitError`, `InvalidResultError`,
   * `HostMemoryLimitError`, `SandboxCrashedError` (retry), `QuarantinedError`,
   * `CallAbortedError`, `LoadError` (a rebuild failed) or `SandboxUsageError` (unknown
   * revision, no such method, resource not JSON, closed).
   */
  call(revisionId: string, method: "reconcile", resource: object, bridge: HostBridge, options?: CallOptions): Promise<ReconcileResult>;
  call(revisionId: string, method: "finalize", resource: object, bridge: HostBridge, options?: CallOptions): Promise<FinalizeResult>;
  call(revisionId: string, method: "validate", input: AdmissionInput, bridge: HostBridge, options?: CallOptions): Promise<ValidateResult>;
  call(revisionId: string, method: "mutate", input: AdmissionInput, bridge: HostBridge, options?: CallOptions): Promise<Resource>;
  call(revisionId: string, method: CallMethod, resource: object, bridge: HostBridge, options?: CallOptions): Promise<CallOutcome>;
  async call(revisionId: string, method: CallMethod, resource: object, bridge: HostBridge, options: CallOptions = {}): Promise<CallOutcome> {
    this.assertOpen();
    const revision = this.revisions.get(revisionId);
    if (revision === undefined || revision.unloading !== undefined) throw new SandboxUsageError(`revision ${revisionId} is not loaded`);
    if (method !== "reconcile" && method !== "finalize" && method !== "validate" && method !== "mutate") throw new SandboxUsageError(`unknown method ${String(method)}`);
    if (method === "finalize" && !revision.loaded.hasFinalize) throw new SandboxUsageError(`revision ${revisionId} has no finalize`);
    if ((method === "validate" && !revision.loaded.hasValidate) || (method === "mutate" && !revision.loaded.hasMutate)) throw new SandboxUsageError(`revision ${revisionId} has no ${method}`);
    const site = { revisionId, method };
    this.checkQuarantine(revision, site);
    let resourceJson: string | undefined;
    try {
      resourceJson = JSON.stringify(resource);
    } catch (error: unknown) {
      throw new SandboxUsageError("the resource is not JSON", { cause: error });
    }
    if (resourceJson === undefined) throw new SandboxUsageError("the resource is not JSON");
    revision.inFlight++;
    try {
      const release = await revision.semaphore.acquire(options.signal);
      try {
        const host = await this.ensureHost();
        this.checkQuarantine(revision, site);
        if (revision.broken !== undefined) throw revision.broken;
        const outcome = (await this.request(host, (id) => ({ t: "call", id, revisionId, method, resourceJson }), wallLimitMs(method, revision.loaded.limits.timeoutMs) + revision.loaded.limits.timeoutMs + BACKSTOP_MARGIN_MS, {
          call: { site, bridge, revision, signal: options.signal },
        })) as CallOutcome;
        // A call that returns ends any probation; the next quarantine starts short again.
        revision.quarantine.count = 0;
        revision.quarantine.strikes = [];
        revision.failStreak = 0;
        return outcome;
      } finally {
        release();
      }
    } finally {
      revision.inFlight--;
      if (revision.inFlight === 0) revision.drained();
      this.recycleIfIdle();
    }
  }

  /** Refuses new calls of the revision, waits for its running and queued calls, then disposes its isolates. */
  async unload(revisionId: string): Promise<void> {
    const revision = this.revisions.get(revisionId);
    if (revision === undefined) return;
    revision.unloading ??= (async () => {
      if (revision.inFlight > 0) await new Promise<void>((resolve) => (revision.drained = resolve));
      this.revisions.delete(revisionId);
      if (this.up) this.host?.send({ t: "unload", revisionId });
      // The revision that burnt its time limit is gone (a fix or a rollback replaced it):
      // its successor should not inherit the penalty, so the host is replaced once idle.
      if (this.demoted && this.demotedBy === revisionId) {
        this.recycle = true;
        this.recycleIfIdle();
      }
    })();
    await revision.unloading;
  }

  /** Memory figures of the host and its isolates (starts the host if none runs). */
  async stats(): Promise<HostStats> {
    const host = await this.ensureHost();
    return (await this.request(host, (id) => ({ t: "stats", id }), LOAD_MARGIN_MS)) as HostStats;
  }

  /** Fails whatever is pending with `SandboxUsageError` and stops the host. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    this.wakeRestart?.();
    this.replies.rejectAll(() => new SandboxUsageError("the sandbox was closed"));
    await this.host?.stop();
  }

  private async loadNew(source: RevisionSource): Promise<LoadedRevision> {
    const limits = clampLimits(source.limits, this.options);
    const spec: RevisionSpec = {
      id: source.id, modules: { ...source.modules }, entry: source.entry, ...limits,
      poolSize: this.options.poolSize, maxResultBytes: this.options.maxResultBytes,
    };
    // A new revision is the user's fix: it does not wait out the crash backoff its
    // predecessor earned (a restart already waiting goes ahead now).
    this.crashes = 0;
    this.wakeRestart?.();
    const host = await this.ensureHost();
    const meta = (await this.request(host, (id) => ({ t: "load", id, revision: spec }), wallLimitMs("load", limits.timeoutMs) + LOAD_MARGIN_MS, { loads: spec.id })) as RevisionMeta;
    const loaded: LoadedRevision = {
      id: spec.id, for: meta.for, owns: meta.owns, hasFinalize: meta.hasFinalize,
      ...(meta.hasValidate ? { hasValidate: true as const } : {}), ...(meta.hasMutate ? { hasMutate: true as const } : {}), limits,
    };
    const wanted = source.limits?.hostMemoryMb;
    const hostMemoryMb = wanted !== undefined && Number.isFinite(wanted) && wanted > 0
      ? Math.min(Math.round(wanted), this.options.maxHostMemoryMb)
      : defaultHostMemoryMb(limits.memoryMb, this.options);
    this.revisions.set(spec.id, {
      spec, loaded, hostMemoryMb, semaphore: new Semaphore(this.options.poolSize), inFlight: 0, unloading: undefined, drained: () => {}, broken: undefined,
      quarantine: { strikes: [], count: 0, until: 0, lastCause: "" },
      failStreak: 0,
    });
    return loaded;
  }

  /**
   * A call that ran to its wall-clock limit burnt a CPU for that long: the host drops to
   * niceness 19, so a neighbour's reconcile (and the operator) preempts it at once, where
   * at equal niceness it would wait for its time slice. Raising niceness needs no
   * privilege, lowering it does: the host keeps it until it is replaced (`recycle`).
   */
  private demote(revisionId: string): void {
    if (this.demoted || this.host === undefined) return;
    this.demoted = true;
    this.demotedBy = revisionId;
    this.host.renice(19);
    this.options.onEvent({ type: "host-demoted", pid: this.host.pid ?? 0, revisionId });
  }

  private recycleIfIdle(): void {
    if (!this.recycle || !this.up || this.host === undefined) return;
    for (const revision of this.revisions.values()) if (revision.inFlight > 0) return;
    if (this.loading.size > 0) return;
    this.recycle = false;
    const host = this.host;
    this.up = false;
    this.host = undefined;
    this.options.onEvent({ type: "host-recycled", pid: host.pid ?? 0 });
    void host.stop();
  }

  private checkQuarantine(revision: RevisionState, site: CallSite): void {
    const q = revision.quarantine;
    if (q.until > Date.now()) throw new QuarantinedError(site, q.lastCause, q.until);
  }

  /** Sends one request to `host` and waits for its reply, killing the host if none comes within `backstopMs`. */
  private request(host: Host, build: (id: number) => HostRequest, backstopMs: number, meta: RequestMeta = {}): Promise<unknown> {
    const sentAt = Date.now();
    const { id, promise } = this.replies.open<unknown>(meta, backstopMs, () => {
      const waitedMs = Date.now() - sentAt;
      this.options.onEvent({ type: "host-unresponsive", pid: host.pid ?? 0, revisionId: meta.call?.site.revisionId ?? "", waitedMs });
      host.kill({ kind: "hung", waitedMs });
    });
    const signal = meta.call?.signal;
    const onAbort = () => host.send({ t: "cancel", id });
    if (signal !== undefined) {
      signal.addEventListener("abort", onAbort, { once: true });
      promise.then(() => signal.removeEventListener("abort", onAbort), () => signal.removeEventListener("abort", onAbort));
    }
    if (!host.send(build(id))) this.replies.take(id)?.reject(new SandboxCrashedError("the sandbox host is gone"));
    else if (signal?.aborted) onAbort();
    return promise;
  }

  private onMessage(host: Host, message: HostMessage): void {
    if (host !== this.host) return;
    switch (message.t) {
      case "ready":
        return;
      case "loaded":
      case "stats":
        this.replies.take(message.id)?.resolve(message.t === "loaded" ? message.meta : message.stats);
        return;
      case "load-failed": {
        const waiting = this.replies.take(message.id);
        waiting?.reject(new LoadError(waiting.meta.loads ?? "", message.message));
        return;
      }
      case "result":
        this.replies.take(message.id)?.resolve(message.value);
        return;
      case "failed": {
        const waiting = this.replies.take(message.id);
        if (waiting?.meta.call !== undefined) waiting.reject(this.failure(waiting.meta.call, message));
        return;
      }
      case "bridge":
        void this.answerBridge(host, message);
        return;
      case "log": {
        const bridge = this.replies.peek(message.callId)?.meta.call?.bridge;
        guard(() => bridge?.log(message.level, message.message, message.fields));
        return;
      }
      case "event": {
        const bridge = this.replies.peek(message.callId)?.meta.call?.bridge;
        guard(() => bridge?.event(message.event));
        return;
      }
      case "log-dropped": {
        const site = this.replies.peek(message.callId)?.meta.call?.site;
        this.options.onEvent({ type: "log-dropped", revisionId: site?.revisionId ?? "", count: message.count });
        return;
      }
    }
  }

  private failure(call: CallMeta, message: Extract<HostMessage, { t: "failed" }>): Error {
    const { site, revision } = call;
    const cause = new Error(message.message);
    const disposed = (reason: "timeout" | "memory" | "aborted" | "error") =>
      this.options.onEvent({ type: "isolate-disposed", revisionId: site.revisionId, reason });
    // A revision whose own code keeps failing is retried by the engine again and again:
    // after 3 failures in a row it yields the CPU too (a timeout does at once).
    if (message.kind === "user" || message.kind === "memory" || message.kind === "invalid" || message.kind === "timeout") {
      revision.failStreak++;
      if (revision.failStreak >= 3) this.demote(site.revisionId);
    }
    switch (message.kind) {
      case "user": {
        const thrown = Object.assign(new Error(message.message), { name: message.name ?? "Error", stack: message.stack ?? "" });
        return new UserCodeError(site, `${message.name ?? "Error"}: ${message.message}`, message.stack ?? "", { cause: thrown });
      }
      case "timeout":
        disposed("timeout");
        this.demote(site.revisionId);
        return new TimeoutError(site, revision.loaded.limits.timeoutMs, message.message, { cause });
      case "memory":
        disposed("memory");
        return new MemoryLimitError(site, revision.loaded.limits.memoryMb, { cause });
      case "invalid":
        return new InvalidResultError(site, message.message, { cause });
      case "aborted":
        disposed("aborted");
        return new CallAbortedError(`${site.method} of revision ${site.revisionId} was aborted`, { cause: call.signal?.reason ?? cause });
      case "load":
        return new LoadError(site.revisionId, `rebuilding an isolate failed: ${message.message}`, { cause });
      case "internal":
        disposed("error");
        return new SandboxCrashedError(`${site.method} of revision ${site.revisionId} failed in the sandbox host: ${message.message}`, { cause });
    }
  }

  private async answerBridge(host: Host, message: Extract<HostMessage, { t: "bridge" }>): Promise<void> {
    const bridge = this.replies.peek(message.callId)?.meta.call?.bridge;
    let reply: string;
    if (bridge === undefined) {
      reply = "Ethe call has ended";
    } else {
      try {
        const { request } = message;
        const value = request.op === "get"
          ? await bridge.get(request.kind, request.name, request.namespace)
          : await bridge.list(request.kind, request.options);
        reply = value === undefined ? "R" : `R${JSON.stringify(value)}`;
      } catch (error: unknown) {
        reply = `E${error instanceof Error ? error.message : String(error)}`;
      }
    }
    host.send({ t: "bridge-reply", reqId: message.reqId, reply });
  }

  /** The running host, starting one (after the backoff, with every revision loaded) when none runs. */
  private async ensureHost(): Promise<Host> {
    for (;;) {
      this.assertOpen();
      if (this.up && this.host !== undefined && !this.host.exited) return this.host;
      this.starting ??= this.startWithBackoff().finally(() => (this.starting = undefined));
      await this.starting;
    }
  }

  private async startWithBackoff(): Promise<void> {
    if (this.generation > 0 && Date.now() - this.startedAt > HEALTHY_AFTER_MS) this.crashes = 0;
    for (let attempt = 1; ; attempt++) {
      if (this.generation > 0 || attempt > 1) {
        const delayMs = BACKOFF_MS[Math.min(this.crashes, BACKOFF_MS.length - 1)] ?? 30_000;
        this.crashes++;
        this.options.onEvent({ type: "host-restart-scheduled", attempt, delayMs });
        if (delayMs > 0) await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wakeRestart = () => { clearTimeout(timer); resolve(); };
        });
      }
      this.assertOpen();
      try {
        await this.startHost();
        return;
      } catch (error: unknown) {
        this.assertOpen();
        this.options.onEvent({ type: "host-start-failed", attempt, error: error instanceof Error ? error : new Error(String(error)) });
        if (this.generation === 0 && attempt >= 3) throw error;
      }
    }
  }

  /** Spawns a host and loads every known revision in it; rejects (and kills it) if either fails. */
  private async startHost(): Promise<void> {
    const host: Host = new SupervisedChild<HostRequest, HostMessage>({
      // Stripped to JavaScript once: amaro's type stripping would cost each host ~27 MiB.
      modulePath: jsEntry(HOST_SOURCE),
      // isolated-vm needs --no-node-snapshot on Node >= 20.
      execArgv: ["--no-node-snapshot", "--disable-warning=ExperimentalWarning", ...this.options.hostExecArgv],
      heartbeat: { intervalMs: Math.min(1000, this.options.heartbeatTimeoutMs / 2), timeoutMs: this.options.heartbeatTimeoutMs },
      memory: { intervalMs: 250, maxRssBytes: () => this.hostMemoryCapBytes() },
      // User code never competes for the CPU with the operator (and, on a shared node,
      // the API server) on equal terms; between reconcilers, hosts share it fairly.
      nice: this.options.hostNice,
      onMessage: (message) => this.onMessage(host, message),
      onExit: (reason) => this.onExit(host, reason),
    });
    this.host = host;
    try {
      await host.ready;
      for (const revision of this.revisions.values()) {
        try {
          await this.request(host, (id) => ({ t: "load", id, revision: revision.spec }), wallLimitMs("load", revision.spec.timeoutMs) + LOAD_MARGIN_MS, { loads: revision.spec.id });
          revision.broken = undefined;
        } catch (error: unknown) {
          if (!(error instanceof LoadError)) throw error;
          revision.broken = error;
          this.options.onEvent({ type: "revision-reload-failed", revisionId: revision.spec.id, error });
        }
      }
      if (host.exited || this.closed) throw new SandboxCrashedError("the sandbox host exited while starting");
    } catch (error: unknown) {
      host.kill();
      throw error;
    }
    this.generation++;
    this.startedAt = Date.now();
    this.up = true;
    this.demoted = false;
    this.demotedBy = undefined;
    this.recycle = false;
    this.options.onEvent({ type: "host-started", pid: host.pid ?? 0, generation: this.generation });
  }

  private onExit(host: Host, reason: ExitReason): void {
    if (host !== this.host) return;
    this.up = false;
    const cause = describeExit(reason);
    const failed = this.replies.rejectAll((meta) => {
      if (meta.call === undefined) return new SandboxCrashedError(`the sandbox host ${cause}`);
      if (reason.kind === "memory") return new HostMemoryLimitError(meta.call.site, Math.round(reason.rssBytes / 2 ** 20), Math.round(reason.capBytes / 2 ** 20));
      return new SandboxCrashedError(`${meta.call.site.method} of revision ${meta.call.site.revisionId} failed: the sandbox host ${cause}; retry the call`);
    });
    if (this.closed) return;
    const calls = failed.flatMap((meta) => (meta.call !== undefined ? [meta.call] : []));
    if (reason.kind === "memory") this.options.onEvent({ type: "host-memory-limit", pid: host.pid ?? 0, rssBytes: reason.rssBytes, capBytes: reason.capBytes });
    if (reason.kind === "hung") this.options.onEvent({ type: "host-unresponsive", pid: host.pid ?? 0, revisionId: calls[0]?.site.revisionId ?? "", waitedMs: reason.waitedMs });
    const exit = reason.kind === "exited" ? { code: reason.code, signal: reason.signal } : { code: null, signal: "SIGKILL" };
    this.options.onEvent({ type: "host-exited", pid: host.pid ?? 0, ...exit, failedCalls: calls.length, reason: reason.kind });
    for (const revision of new Set(calls.map((call) => call.revision))) this.strike(revision, cause);
  }

  /** Counts a host failure against a revision that had a call in flight; quarantines it after too many. */
  private strike(revision: RevisionState, cause: string): void {
    if (!this.revisions.has(revision.spec.id)) return;
    const q = revision.quarantine;
    const now = Date.now();
    q.strikes = [...q.strikes.filter((at) => now - at < this.options.quarantineWindowMs), now];
    q.lastCause = cause;
    // On probation (quarantined before, no success since), one more failure is enough.
    if (q.strikes.length < this.options.quarantineStrikes && q.count === 0) return;
    const durationMs = Math.min(QUARANTINE_MAX_MS, this.options.quarantineBaseMs * 2 ** q.count);
    q.count++;
    q.strikes = [];
    q.until = now + durationMs;
    this.options.onEvent({ type: "revision-quarantined", revisionId: revision.spec.id, cause, durationMs, count: q.count });
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxUsageError("the sandbox is closed");
  }
}

function describeExit(reason: ExitReason): string {
  switch (reason.kind) {
    case "exited":
      return `exited (${reason.signal ?? `code ${reason.code}`})`;
    case "hung":
      return `stopped answering its heartbeat for ${reason.waitedMs} ms and was killed`;
    case "memory":
      return `used ${Math.round(reason.rssBytes / 2 ** 20)} MiB, over its limit of ${Math.round(reason.capBytes / 2 ** 20)} MiB, and was killed`;
    case "killed":
      return "was killed";
  }
}

function guard(action: () => void): void {
  try {
    action();
  } catch {
    // The bridge's log and event are fire-and-forget: their failures are the operator's to log.
  }
}
