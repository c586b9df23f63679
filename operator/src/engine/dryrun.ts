/**
 * Dry run: a (possibly unsaved) reconciler source against one resource, in the
 * sandbox, writing nothing. It runs the engine's own pipeline (pipeline.ts) with a
 * writer that records instead of writing, so it takes the same steps (finalizer,
 * reconcile or finalize, children stamped by `prepareChildren`) and names a failure
 * with the same reason (failures.ts) as the cluster would. Returns the children the
 * engine would apply, the status fields it would write, the logs and events the code
 * produced, and diagnostics.
 *
 * Used by the editor's dry-run panel and by `chakrator test`. Never throws for bad
 * input: every failure is in the result (`ok: false`, with `error` or diagnostics).
 * `openTrial` compiles and loads a source once, for a dry run and an admission dry run
 * of the same request.
 */
import type { KubeObject } from "../kube/client.ts";
import { EDITOR_HOST, type HostBridge, type LoadedRevision, type RevisionRunner } from "../sandbox/index.ts";
import { formatDiagnostics, type Diagnostic } from "../reconcilers/compile-diagnostics.ts";
import type { CompileOptions, Compiler } from "../reconcilers/compile-process.ts";
import type { CompileResult } from "../reconcilers/compile.ts";
import { LogBus, type LogLevel } from "../telemetry/log.ts";
import type { Resource } from "../../types/chakrator.d.ts";
import { describeError, reasonFor } from "./failures.ts";
import { finalizerName } from "./finalizer.ts";
import { runPipeline, type PipelineWriter } from "./pipeline.ts";

export interface DryRunLog {
  level: LogLevel;
  message: string;
  fields?: Record<string, unknown>;
}

export interface DryRunResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** The children the engine would apply (empty on failure). */
  children: KubeObject[];
  /** The user's status fields (the engine adds observedGeneration and conditions). */
  status?: Record<string, unknown>;
  requeueAfterSeconds?: number;
  logs: DryRunLog[];
  events: Array<{ type: string; reason: string; message: string }>;
  /** What failed, when `ok` is false and diagnostics do not say it. */
  error?: { reason: string; message: string };
  /** The revision's declared kinds, when it compiled and loaded. */
  for?: { apiVersion: string; kind: string };
  owns?: Array<{ apiVersion: string; kind: string }>;
  durationMs: number;
}

export interface DryRunInput {
  compiler: Compiler;
  sandbox: RevisionRunner;
  /** Reconciler ConfigMap data (`reconciler.ts` and other keys). */
  files: Record<string, string>;
  resource: unknown;
  /**
   * Instead of `resource`: reads it once the revision is loaded and its kinds are known
   * (the editor reads the live object of the source's `for` kind), so the source is
   * compiled and loaded once. A rejection of `target` rejects `dryRun`.
   */
  target?: (kinds: { for: { apiVersion: string; kind: string }; owns: Array<{ apiVersion: string; kind: string }> }) => Promise<unknown>;
  /** Cache reads for ctx.get/list; default: nothing exists. */
  read?: Pick<HostBridge, "get" | "list">;
  /** The sandbox host that runs it; default `EDITOR_HOST`, never a production reconciler's. */
  host?: string;
  /** Passed to the compiler (the editor's `lane`). */
  compileOptions?: CompileOptions;
  /** A trial already open for `files` (`openTrial`): used instead of compiling and loading again, and left open. */
  trial?: Trial;
}

/** A compiled source, loaded into the sandbox on first need and until `close()`. */
export interface Trial {
  compiled: CompileResult;
  /** The sandbox's revision id, when it compiled. */
  id?: string;
  /** Loads it, once (later calls answer the same); never rejects. Only when it compiled. */
  load(): Promise<{ id: string; loaded: LoadedRevision } | { loadError: unknown }>;
  /** Unloads it, if it was loaded; never rejects. */
  close(): Promise<void>;
}

let runs = 0;

/**
 * Runs `run` on `input.trial` when given (left open: its opener closes it), or else on
 * a trial opened for `input` and closed when `run` settles.
 */
export async function withTrial<T>(input: Pick<DryRunInput, "compiler" | "sandbox" | "files" | "host" | "compileOptions" | "trial">, run: (trial: Trial) => Promise<T>): Promise<T> {
  if (input.trial !== undefined) return run(input.trial);
  const trial = await openTrial(input);
  try {
    return await run(trial);
  } finally {
    await trial.close();
  }
}

/**
 * Compiles `files` once, for the dry runs of one request; they load it (once) only
 * after their own checks of the input passed.
 */
export async function openTrial(input: Pick<DryRunInput, "compiler" | "sandbox" | "files" | "host" | "compileOptions">): Promise<Trial> {
  const compiled = await input.compiler.compile(input.files, input.compileOptions);
  if (!compiled.ok) return { compiled, load: async () => ({ loadError: new Error("the source does not compile") }), close: async () => {} };
  const id = `dryrun-${++runs}@${compiled.hash.slice(0, 16)}`;
  let loading: ReturnType<Trial["load"]> | undefined;
  return {
    compiled,
    id,
    load: () => (loading ??= input.sandbox.load({ id, modules: compiled.modules, entry: compiled.entry, host: input.host ?? EDITOR_HOST })
      .then((loaded) => ({ id, loaded }), (loadError: unknown) => ({ loadError }))),
    close: async () => {
      if (loading !== undefined) await input.sandbox.unload(id).catch(() => {});
    },
  };
}

function invalidResource(res: KubeObject | undefined): boolean {
  return !res || typeof res !== "object" || typeof res.apiVersion !== "string" || typeof res.kind !== "string" || typeof res.metadata?.name !== "string";
}

/** Runs `files` against `resource`; see the module comment. */
export async function dryRun(input: DryRunInput): Promise<DryRunResult> {
  const started = performance.now();
  const logs: DryRunLog[] = [];
  const events: DryRunResult["events"] = [];
  const done = (r: Omit<DryRunResult, "logs" | "events" | "durationMs">): DryRunResult => ({ ...r, logs, events, durationMs: performance.now() - started });
  return withTrial(input, async (trial) => {
    const { compiled } = trial;
    const refuse = (error: { reason: string; message: string }, kinds: Pick<DryRunResult, "for" | "owns"> = {}) =>
      done({ ok: false, diagnostics: compiled.diagnostics, children: [], ...kinds, error });
    if (!compiled.ok) return refuse({ reason: "CompileError", message: formatDiagnostics(compiled.diagnostics, 5) });
    const invalid = () => refuse({ reason: "InvalidResource", message: "the resource needs apiVersion, kind and metadata.name" });
    if (!input.target && invalidResource(input.resource as KubeObject)) return invalid();
    const load = await trial.load();
    if ("loadError" in load) return refuse({ reason: reasonFor(load.loadError), message: describeError(load.loadError) });
    const { id, loaded } = load;
    const kinds = { for: loaded.for, owns: loaded.owns };
    // A rejection of `target` rejects the dry run (the caller's error, e.g. a 404).
    const raw = (input.target ? await input.target(kinds) : input.resource) as KubeObject;
    if (invalidResource(raw)) return invalid();
    // A stand-in identity, so children get well-formed owner references without a cluster.
    const resource: KubeObject = { ...raw, metadata: { namespace: "default", uid: "00000000-0000-0000-0000-000000000000", generation: 1, ...raw.metadata } };
    if (loaded.for.apiVersion !== resource.apiVersion || loaded.for.kind !== resource.kind) {
      return refuse({ reason: "WrongKind", message: `this reconciler is for ${loaded.for.apiVersion}/${loaded.for.kind}, not ${resource.apiVersion}/${resource.kind}` }, kinds);
    }
    const recorder = recordingWriter(events);
    // A bus of its own, read back below: the code's ctx.log lines are the result's logs;
    // the engine's own ("reconcile failed: ...") are the result's error.
    const log = new LogBus({ stdout: false, stdoutLevel: "error" });
    const outcome = await runPipeline({
      obj: resource, rev: { reconciler: "dry-run", number: 0, sandboxId: id, owns: loaded.owns, hasFinalize: loaded.hasFinalize },
      sandbox: input.sandbox, writer: recorder.writer, reads: { get: input.read?.get ?? (async () => undefined), list: input.read?.list ?? (async () => []) }, log,
    });
    for (const r of log.recent()) if (r.source === "user") logs.push(r.fields ? { level: r.level, message: r.message, fields: r.fields } : { level: r.level, message: r.message });
    if (outcome.type === "error") return refuse({ reason: outcome.reason, message: outcome.message }, kinds);
    const out: Omit<DryRunResult, "logs" | "events" | "durationMs"> = { ok: true, diagnostics: compiled.diagnostics, children: recorder.children, ...kinds };
    if (recorder.status !== undefined) out.status = recorder.status;
    if (outcome.type === "done" && outcome.requeueAfterMs !== undefined) out.requeueAfterSeconds = outcome.requeueAfterMs / 1000;
    return done(out);
  });
}

/** The dry run's writer: remembers what the engine would write, writes nothing. */
function recordingWriter(events: DryRunResult["events"]): { writer: PipelineWriter; children: KubeObject[]; status?: Record<string, unknown> } {
  const record: { writer: PipelineWriter; children: KubeObject[]; status?: Record<string, unknown> } = {
    children: [],
    writer: {
      addFinalizer: async (obj) => ({ ...obj, metadata: { ...obj.metadata, finalizers: [...(obj.metadata.finalizers ?? []), finalizerName] } }),
      removeFinalizer: async () => {},
      applyChildren: async (_parent, desired) => {
        record.children = desired;
        return desired.length;
      },
      // What is live is the caller's to compare (the editor lists the live children).
      pruneChildren: async () => 0,
      writeStatus: async (_obj, userStatus) => {
        if (userStatus !== undefined) record.status = userStatus;
      },
      event: (_obj, spec, from) => {
        if (from === "user") events.push({ type: spec.type, reason: spec.reason, message: spec.message });
      },
    },
  };
  return record;
}
