/**
 * `Sandbox`: the operator's side of the sandbox. It supervises one sandbox host process
 * (see `host.ts`), keeps the loaded revisions, and turns calls into host requests.
 *
 * Guarantees:
 * - User code never runs in the operator process; the operator never dies of it.
 * - At most `poolSize` calls of one revision are in the host at once; more wait here,
 *   in order, and can be aborted while waiting.
 * - Every call settles: with its result, or one of the errors in `errors.ts`. The host
 *   enforces each call's wall-clock limit; a backstop here (2 × timeout + 2 s) kills a
 *   host that stops answering.
 * - If the host dies, every request in it fails with `SandboxCrashedError`, an event is
 *   emitted, and a new host starts (at once, then with backoff up to 5 s while it keeps
 *   dying) with every loaded revision loaded again. Calls made meanwhile wait for it.
 */
import {
  CallAbortedError, LoadError, MemoryLimitError, SandboxCrashedError, SandboxUsageError, TimeoutError,
  UserCodeError, InvalidResultError, type CallSite,
} from "./errors.ts";
import { HostProcess } from "./host-process.ts";
import { clampLimits, resolveOptions, type ResolvedOptions } from "./limits.ts";
import type { HostMessage, HostRequest, HostStats, RevisionMeta, RevisionSpec } from "./protocol.ts";
import { Semaphore } from "./semaphore.ts";
import type { FinalizeResult, ReconcileResult, Resource, ValidateResult } from "../../types/chakrator.d.ts";
import type {
  AdmissionInput, CallMethod, CallOptions, CallOutcome, HostBridge, LoadedRevision, RevisionSource, SandboxEvent, SandboxOptions,
} from "./types.ts";

const BACKSTOP_MARGIN_MS = 2000;
const LOAD_MARGIN_MS = 10_000;
const HEALTHY_AFTER_MS = 30_000;
const BACKOFF_MS = [0, 250, 500, 1000, 2000, 4000, 5000] as const;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  cleanup(): void;
  /** The revision a load is for, to name it in a `LoadError`. */
  loads?: string;
  call?: { site: CallSite; bridge: HostBridge; revision: RevisionState; signal: AbortSignal | undefined };
}

interface RevisionState {
  spec: RevisionSpec;
  loaded: LoadedRevision;
  semaphore: Semaphore;
  inFlight: number;
  unloading: Promise<void> | undefined;
  drained: () => void;
  broken: LoadError | undefined;
}

export class Sandbox {
  private readonly options: ResolvedOptions;
  private host: HostProcess | undefined;
  /** True while `host` is started and has every revision loaded. */
  private up = false;
  /** Settles when a host is up again (or the sandbox is closed). */
  private hostReady: Promise<void> = Promise.resolve();
  private generation = 0;
  private startedAt = 0;
  private crashes = 0;
  private wakeRestart: (() => void) | undefined;
  private closed = false;
  private nextId = 1;
  private readonly revisions = new Map<string, RevisionState>();
  private readonly loading = new Map<string, Promise<LoadedRevision>>();
  private readonly pending = new Map<number, Pending>();

  private constructor(options: ResolvedOptions) {
    this.options = options;
  }

  /** Starts a sandbox host and resolves once it answers; rejects if it cannot start. */
  static async start(options: SandboxOptions = {}): Promise<Sandbox> {
    const sandbox = new Sandbox(resolveOptions(options));
    await sandbox.startHost();
    return sandbox;
  }

  /** The current host's process id (undefined while it restarts): for diagnostics and tests. */
  get hostPid(): number | undefined {
    return this.up ? this.host?.pid : undefined;
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
   * `SandboxCrashedError` (retry), `CallAbortedError`, `LoadError` (a rebuild failed) or
   * `SandboxUsageError` (unknown revision, no `finalize`, resource not JSON, closed).
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
        while (!this.up) {
          this.assertOpen();
          await this.hostReady;
        }
        if (revision.broken !== undefined) throw revision.broken;
        const host = this.host as HostProcess;
        const site = { revisionId, method };
        return (await this.request(host, (id) => ({ t: "call", id, revisionId, method, resourceJson }), revision.loaded.limits.timeoutMs * 2 + BACKSTOP_MARGIN_MS, {
          site, bridge, revision, signal: options.signal,
        })) as CallOutcome;
      } finally {
        release();
      }
    } finally {
      revision.inFlight--;
      if (revision.inFlight === 0) revision.drained();
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
    })();
    await revision.unloading;
  }

  /** Memory figures of the host and its isolates. */
  async stats(): Promise<HostStats> {
    this.assertOpen();
    while (!this.up) await this.hostReady;
    return (await this.request(this.host as HostProcess, (id) => ({ t: "stats", id }), LOAD_MARGIN_MS)) as HostStats;
  }

  /** Fails whatever is pending with `SandboxUsageError` and stops the host. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    this.wakeRestart?.();
    this.failPending(() => new SandboxUsageError("the sandbox was closed"));
    await this.host?.stop();
  }

  private async loadNew(source: RevisionSource): Promise<LoadedRevision> {
    const limits = clampLimits(source.limits, this.options);
    const spec: RevisionSpec = {
      id: source.id, modules: { ...source.modules }, entry: source.entry, ...limits,
      poolSize: this.options.poolSize, maxResultBytes: this.options.maxResultBytes,
    };
    while (!this.up) {
      this.assertOpen();
      await this.hostReady;
    }
    const meta = (await this.request(this.host as HostProcess, (id) => ({ t: "load", id, revision: spec }), limits.timeoutMs + LOAD_MARGIN_MS, undefined, spec.id)) as RevisionMeta;
    const loaded: LoadedRevision = { id: spec.id, for: meta.for, owns: meta.owns, hasFinalize: meta.hasFinalize, ...(meta.hasValidate ? { hasValidate: true as const } : {}), ...(meta.hasMutate ? { hasMutate: true as const } : {}), limits };
    this.revisions.set(spec.id, {
      spec, loaded, semaphore: new Semaphore(this.options.poolSize), inFlight: 0, unloading: undefined, drained: () => {}, broken: undefined,
    });
    return loaded;
  }

  /** Sends one request to `host` and waits for its reply, killing the host if none comes within `backstopMs`. */
  private request(host: HostProcess, build: (id: number) => HostRequest, backstopMs: number, call?: Pending["call"], loads?: string): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const sentAt = Date.now();
      const backstop = setTimeout(() => {
        this.options.onEvent({ type: "host-unresponsive", pid: host.pid ?? 0, revisionId: call?.site.revisionId ?? "", waitedMs: Date.now() - sentAt });
        host.kill();
      }, backstopMs);
      const onAbort = () => host.send({ t: "cancel", id });
      call?.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(backstop);
        call?.signal?.removeEventListener("abort", onAbort);
      };
      this.pending.set(id, { resolve, reject, cleanup, ...(call !== undefined ? { call } : {}), ...(loads !== undefined ? { loads } : {}) });
      if (!host.send(build(id))) this.settle(id)?.reject(new SandboxCrashedError("the sandbox host is gone"));
      else if (call?.signal?.aborted) onAbort();
    });
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (pending === undefined) return undefined;
    this.pending.delete(id);
    pending.cleanup();
    return pending;
  }

  private onMessage(host: HostProcess, message: HostMessage): void {
    if (host !== this.host) return;
    switch (message.t) {
      case "ready":
        return;
      case "loaded":
      case "stats":
        this.settle(message.id)?.resolve(message.t === "loaded" ? message.meta : message.stats);
        return;
      case "load-failed": {
        const pending = this.settle(message.id);
        pending?.reject(new LoadError(pending.loads ?? "", message.message));
        return;
      }
      case "result":
        this.settle(message.id)?.resolve(message.value);
        return;
      case "failed": {
        const pending = this.settle(message.id);
        if (pending?.call !== undefined) pending.reject(this.failure(pending.call, message));
        return;
      }
      case "bridge":
        void this.answerBridge(host, message);
        return;
      case "log": {
        const bridge = this.pending.get(message.callId)?.call?.bridge;
        guard(() => bridge?.log(message.level, message.message, message.fields));
        return;
      }
      case "event": {
        const bridge = this.pending.get(message.callId)?.call?.bridge;
        guard(() => bridge?.event(message.event));
        return;
      }
      case "log-dropped": {
        const site = this.pending.get(message.callId)?.call?.site;
        this.options.onEvent({ type: "log-dropped", revisionId: site?.revisionId ?? "", count: message.count });
        return;
      }
    }
  }

  private failure(call: NonNullable<Pending["call"]>, message: Extract<HostMessage, { t: "failed" }>): Error {
    const { site, revision } = call;
    const cause = new Error(message.message);
    const disposed = (reason: "timeout" | "memory" | "aborted" | "error") =>
      this.options.onEvent({ type: "isolate-disposed", revisionId: site.revisionId, reason });
    switch (message.kind) {
      case "user": {
        const thrown = Object.assign(new Error(message.message), { name: message.name ?? "Error", stack: message.stack ?? "" });
        return new UserCodeError(site, `${message.name ?? "Error"}: ${message.message}`, message.stack ?? "", { cause: thrown });
      }
      case "timeout":
        disposed("timeout");
        return new TimeoutError(site, revision.loaded.limits.timeoutMs, { cause });
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

  private async answerBridge(host: HostProcess, message: Extract<HostMessage, { t: "bridge" }>): Promise<void> {
    const bridge = this.pending.get(message.callId)?.call?.bridge;
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

  /** Spawns a host and loads every known revision in it; rejects (and kills it) if either fails. */
  private async startHost(): Promise<void> {
    const host: HostProcess = new HostProcess({
      onMessage: (message) => this.onMessage(host, message),
      onExit: (code, signal) => this.onExit(host, code, signal),
    });
    this.host = host;
    try {
      await host.ready;
      for (const revision of this.revisions.values()) {
        try {
          await this.request(host, (id) => ({ t: "load", id, revision: revision.spec }), revision.spec.timeoutMs + LOAD_MARGIN_MS, undefined, revision.spec.id);
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
    this.options.onEvent({ type: "host-started", pid: host.pid ?? 0, generation: this.generation });
  }

  private onExit(host: HostProcess, code: number | null, signal: string | null): void {
    if (host !== this.host) return;
    const wasUp = this.up;
    this.up = false;
    const failed = this.failPending(() => new SandboxCrashedError(`the sandbox host exited (code ${code}, signal ${signal}); retry the call`));
    if (this.closed) return;
    this.options.onEvent({ type: "host-exited", pid: this.host.pid ?? 0, code, signal, failedCalls: failed });
    if (!wasUp) return; // startHost is running for this host; its caller handles the failure.
    this.hostReady = this.restart();
    this.hostReady.catch(() => {});
  }

  private async restart(): Promise<void> {
    if (Date.now() - this.startedAt > HEALTHY_AFTER_MS) this.crashes = 0;
    for (let attempt = 1; ; attempt++) {
      const delayMs = BACKOFF_MS[Math.min(this.crashes, BACKOFF_MS.length - 1)] ?? 5000;
      this.crashes++;
      this.options.onEvent({ type: "host-restart-scheduled", attempt, delayMs });
      if (delayMs > 0) await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wakeRestart = () => { clearTimeout(timer); resolve(); };
      });
      this.assertOpen();
      try {
        await this.startHost();
        return;
      } catch (error: unknown) {
        this.assertOpen();
        this.options.onEvent({ type: "host-start-failed", attempt, error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
  }

  /** Rejects every pending request; returns how many were calls. */
  private failPending(error: () => Error): number {
    let calls = 0;
    for (const id of [...this.pending.keys()]) {
      const pending = this.settle(id);
      if (pending?.call !== undefined) calls++;
      pending?.reject(error());
    }
    return calls;
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxUsageError("the sandbox is closed");
  }
}

function guard(action: () => void): void {
  try {
    action();
  } catch {
    // The bridge's log and event are fire-and-forget: their failures are the operator's to log.
  }
}
