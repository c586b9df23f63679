/**
 * One isolate running one revision, inside the sandbox host. Built from the revision's
 * modules (prelude first, then the user modules, then the default export checked), it
 * then serves calls one at a time until it is disposed.
 *
 * Guarantees:
 * - Every run has two limits enforced from outside, by the host disposing the isolate:
 *   the revision's time limit counts the isolate's CPU time (polled), and a wall-clock
 *   limit (`wallLimitMs`: 5 times longer for reconcile and finalize, the same for
 *   admission) ends promises that never settle. Building (module evaluation) has the
 *   same two limits as a reconcile. So a starved host (a busy node, a CPU-throttled
 *   pod, niceness 19) does not turn a well-behaved call into a timeout.
 * - A memory overrun disposes the isolate (isolated-vm does it) and is reported as such.
 * - A disposed slot is never reused: the pool drops it and builds a new one lazily.
 * - Only strings cross: the resource goes in as JSON; what comes out is an envelope
 *   string, checked here (size, JSON, shape) before anything trusts it.
 * - Module state (top-level variables) persists across the runs of one slot, as in a
 *   Node module; a slot's state is lost when it is disposed, and slots of one pool do
 *   not share it.
 */
import ivm from "isolated-vm";
import { CALL_BUDGET } from "./budgets.ts";
import { wallLimitMs } from "./limits.ts";
import { resolveSpecifier } from "./module-graph.ts";
import { PRELUDE_FILENAME, PRELUDE_SOURCE } from "./prelude.ts";
import type { RevisionMeta, RevisionSpec } from "./protocol.ts";
import { checkAdmissionShape } from "./admission-shape.ts";
import { checkResultShape } from "./result-shape.ts";
import { firstUserFrame, trimStack } from "./stack.ts";
import type { JsonValue } from "../../types/chakrator.d.ts";
import type { CallMethod } from "./types.ts";

/** What user code in a slot may ask of the host; `request` resolves to a bridge envelope and never rejects. */
export interface SlotHooks {
  request(callId: number, op: string, argsJson: string): Promise<string>;
  log(callId: number, level: string, message: string, fieldsJson: string): void;
  event(callId: number, eventJson: string): void;
  /** The prelude dropped `count` log records or events of the call (over its budget). */
  dropped(callId: number, count: number): void;
}

/** How one run ended. */
export type RunOutcome =
  | { kind: "ok"; value: { [key: string]: JsonValue } }
  | { kind: "user"; name: string; message: string; stack: string }
  | { kind: "invalid" | "timeout" | "memory" | "aborted" | "internal"; message: string };

/** Building a slot failed; the message says what is wrong in the user's terms. */
export class BuildError extends Error {
  override name = "BuildError";
}

type DisposeReason = "timeout" | "memory" | "aborted" | "error" | "unload";

export class IsolateSlot {
  readonly meta: RevisionMeta;
  readonly spec: RevisionSpec;
  private readonly isolate: ivm.Isolate;
  private readonly kernel: ivm.Reference<(...args: unknown[]) => unknown>;
  private readonly files: ReadonlySet<string>;
  private disposedFor: DisposeReason | undefined;

  private constructor(spec: RevisionSpec, isolate: ivm.Isolate, kernel: ivm.Reference<(...args: unknown[]) => unknown>, meta: RevisionMeta) {
    this.spec = spec;
    this.isolate = isolate;
    this.kernel = kernel;
    this.meta = meta;
    this.files = new Set(Object.keys(spec.modules));
  }

  /** Builds an isolate for `spec` and evaluates its modules; rejects with `BuildError`. */
  static async create(spec: RevisionSpec, hooks: SlotHooks): Promise<IsolateSlot> {
    const isolate = new ivm.Isolate({ memoryLimit: spec.memoryMb });
    let expired: string | undefined;
    const unwatch = watchLimits(isolate, spec.timeoutMs, wallLimitMs("load", spec.timeoutMs), (message) => {
      expired = message;
      isolate.dispose();
    });
    try {
      const context = await isolate.createContext();
      const bridge = new ivm.Reference((callId: number, op: string, argsJson: string) => hooks.request(callId, op, argsJson));
      const log = new ivm.Callback((callId: number, level: string, message: string, fields: string) => hooks.log(callId, level, message, fields), { ignored: true });
      const event = new ivm.Callback((callId: number, json: string) => hooks.event(callId, json), { ignored: true });
      const dropped = new ivm.Callback((callId: number, count: number) => hooks.dropped(callId, count), { ignored: true });
      const kernel = (await context.evalClosure(PRELUDE_SOURCE, [bridge, log, event, spec.maxResultBytes, JSON.stringify(CALL_BUDGET), dropped], {
        filename: PRELUDE_FILENAME,
        result: { reference: true },
      })) as ivm.Reference<(...args: unknown[]) => unknown>;
      const entry = await linkModules(isolate, context, spec);
      const files = new Set(Object.keys(spec.modules));
      try {
        await entry.evaluate();
      } catch (error: unknown) {
        if (expired !== undefined || isMemoryError(error)) throw error;
        throw new BuildError(`evaluating the modules threw ${describeBuildError(error, files)}`, { cause: error });
      }
      let metaJson: unknown;
      try {
        metaJson = await kernel.apply(undefined, ["install", entry.namespace.derefInto()], { result: { copy: true } });
      } catch (error: unknown) {
        if (expired !== undefined || isMemoryError(error)) throw error;
        throw new BuildError(`bad reconciler in ${spec.entry}: ${messageOf(error)}`, { cause: error });
      }
      const meta = JSON.parse(String(metaJson)) as RevisionMeta;
      return new IsolateSlot(spec, isolate, kernel, meta);
    } catch (error: unknown) {
      if (!isolate.isDisposed) isolate.dispose();
      if (expired !== undefined) throw new BuildError(`evaluating the modules ${expired}`, { cause: error });
      if (isMemoryError(error)) throw new BuildError(`evaluating the modules exceeded the memory limit of ${spec.memoryMb} MiB`, { cause: error });
      if (error instanceof BuildError) throw error;
      throw new BuildError(describeBuildError(error, new Set(Object.keys(spec.modules))), { cause: error });
    } finally {
      unwatch();
    }
  }

  get disposed(): boolean {
    return this.disposedFor !== undefined || this.isolate.isDisposed;
  }

  /** Runs `method` on a copy of the resource. Never rejects; the outcome says how it ended. */
  async run(method: CallMethod, resourceJson: string, callId: number): Promise<RunOutcome> {
    let expired = "";
    const unwatch = watchLimits(this.isolate, this.spec.timeoutMs, wallLimitMs(method, this.spec.timeoutMs), (message) => {
      expired = message;
      this.dispose("timeout");
    });
    let envelope: unknown;
    try {
      envelope = await this.kernel.apply(undefined, ["call", method, resourceJson, callId], { result: { promise: true } });
    } catch (error: unknown) {
      const reason: DisposeReason = this.disposedFor ?? (isMemoryError(error) ? "memory" : "error");
      this.dispose(reason);
      switch (reason) {
        case "timeout":
          return { kind: "timeout", message: expired || `did not finish within ${this.spec.timeoutMs} ms` };
        case "memory":
          return { kind: "memory", message: `exceeded the memory limit of ${this.spec.memoryMb} MiB` };
        case "aborted":
        case "unload":
          return { kind: "aborted", message: "the call was aborted" };
        case "error":
          return { kind: "internal", message: `the isolate failed: ${messageOf(error)}` };
      }
    } finally {
      unwatch();
    }
    return this.decode(method, envelope);
  }

  /** Stops whatever runs in the isolate and frees it; later runs are impossible. */
  dispose(reason: DisposeReason): void {
    this.disposedFor ??= reason;
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  /** Why the slot was disposed, if it was. */
  get disposeReason(): DisposeReason | undefined {
    return this.disposedFor ?? (this.isolate.isDisposed ? "error" : undefined);
  }

  /** V8 heap statistics of this isolate. */
  heapStatistics(): ivm.HeapStatistics | undefined {
    return this.isolate.isDisposed ? undefined : this.isolate.getHeapStatisticsSync();
  }

  private decode(method: CallMethod, envelope: unknown): RunOutcome {
    if (typeof envelope !== "string" || envelope === "") {
      this.dispose("error");
      return { kind: "internal", message: "the isolate answered something other than an envelope" };
    }
    const body = envelope.slice(1);
    switch (envelope[0]) {
      case "R": {
        if (body.length > this.spec.maxResultBytes) {
          return { kind: "invalid", message: `the result is ${body.length} characters as JSON, over the limit of ${this.spec.maxResultBytes}` };
        }
        let value: unknown;
        try {
          value = JSON.parse(body);
        } catch {
          return { kind: "invalid", message: "the result is not JSON" };
        }
        const checked = method === "validate" || method === "mutate" ? checkAdmissionShape(method, value) : checkResultShape(method, value);
        return checked.ok ? { kind: "ok", value: checked.value } : { kind: "invalid", message: checked.message };
      }
      case "U": {
        const error = parseErrorJson(body);
        return { kind: "user", name: error.name, message: error.message, stack: trimStack(error.stack, this.files) };
      }
      case "I":
        return { kind: "invalid", message: body };
      default:
        this.dispose("error");
        return { kind: "internal", message: "the isolate answered an unknown envelope" };
    }
  }
}

/**
 * Watches one run or build of `isolate`: its CPU time against `cpuMs` (polled, so a
 * loop overshoots by at most one poll) and wall-clock time against `wallMs`. Calls
 * `expire` once, with what ran out in words ("used more than ..."), unless the returned
 * function (call it when the run ends) was called first.
 *
 * CPU time is the smaller of two upper bounds. isolated-vm's `cpuTime` reads the
 * thread's CPU clock only when the isolate pauses; while it runs, it adds steady-clock
 * time since it resumed, so a starved but running isolate would look busy. The host
 * process's own CPU time (`process.cpuUsage`) stands still while it is starved, but
 * also counts the other calls of this reconciler in the same host. Neither undercounts.
 */
function watchLimits(isolate: ivm.Isolate, cpuMs: number, wallMs: number, expire: (message: string) => void): () => void {
  if (wallMs <= cpuMs) {
    // No slack (admission): the wall-clock limit alone binds, as CPU time never exceeds it.
    const wall = setTimeout(() => expire(`did not finish within ${wallMs} ms`), wallMs);
    return () => clearTimeout(wall);
  }
  const isolateNs = (): bigint => {
    try {
      return isolate.cpuTime;
    } catch {
      return 0n; // disposed meanwhile
    }
  };
  const isolateStart = isolateNs();
  const hostStart = process.cpuUsage();
  const usedNs = (): bigint => {
    const host = process.cpuUsage(hostStart);
    const hostNs = BigInt(host.user + host.system) * 1000n;
    const own = isolateNs() - isolateStart;
    return own < hostNs ? own : hostNs;
  };
  const budgetNs = BigInt(Math.round(cpuMs * 1e6));
  const usedMs = () => Number(usedNs() / 1_000_000n);
  let done = false;
  const fire = (message: string) => {
    if (done) return;
    stop();
    expire(message);
  };
  const poll = setInterval(() => {
    if (usedNs() > budgetNs) fire(`used more than ${cpuMs} ms of CPU time`);
  }, Math.min(50, Math.max(5, cpuMs / 10)));
  const wall = setTimeout(() => fire(`did not finish within ${wallMs} ms (it used ${usedMs()} ms of CPU time: it was waiting, or the node was busy)`), wallMs);
  function stop(): void {
    done = true;
    clearInterval(poll);
    clearTimeout(wall);
  }
  return stop;
}

/** Compiles every module, checks all imports, links the graph; returns the entry module. */
async function linkModules(isolate: ivm.Isolate, context: ivm.Context, spec: RevisionSpec): Promise<ivm.Module> {
  const keys = new Set(Object.keys(spec.modules));
  const byKey = new Map<string, ivm.Module>();
  const keyOf = new Map<ivm.Module, string>();
  for (const [key, code] of Object.entries(spec.modules)) {
    let module: ivm.Module;
    try {
      module = await isolate.compileModule(code, { filename: key });
    } catch (error: unknown) {
      throw new BuildError(`${key} does not compile: ${messageOf(error)}`, { cause: error });
    }
    for (const specifier of module.dependencySpecifiers) {
      const resolution = resolveSpecifier(specifier, key, keys);
      if (!resolution.ok) throw new BuildError(resolution.message);
    }
    byKey.set(key, module);
    keyOf.set(module, key);
  }
  const entry = byKey.get(spec.entry);
  if (entry === undefined) throw new BuildError(`the entry module ${spec.entry} is not among the modules`);
  await entry.instantiate(context, (specifier, referrer) => {
    const resolution = resolveSpecifier(specifier, keyOf.get(referrer) ?? spec.entry, keys);
    const module = resolution.ok ? byKey.get(resolution.key) : undefined;
    if (module === undefined) throw new Error(resolution.ok ? `cannot resolve "${specifier}"` : resolution.message);
    return module;
  });
  return entry;
}

function describeBuildError(error: unknown, files: ReadonlySet<string>): string {
  const message = messageOf(error);
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : "";
  const where = firstUserFrame(stack, files);
  const name = error instanceof Error ? error.name : "Error";
  return where === undefined ? `${name}: ${message}` : `${name}: ${message} (at ${where})`;
}

function parseErrorJson(json: string): { name: string; message: string; stack: string } {
  try {
    const value = JSON.parse(json) as Record<string, unknown>;
    const text = (key: string) => (typeof value[key] === "string" ? value[key] : "");
    return { name: text("name") || "Error", message: text("message"), stack: text("stack") };
  } catch {
    return { name: "Error", message: "the thrown error could not be read", stack: "" };
  }
}

function isMemoryError(error: unknown): boolean {
  return /memory limit/i.test(messageOf(error));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
