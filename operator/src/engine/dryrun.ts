/**
 * Dry run: a (possibly unsaved) reconciler source against one resource, in the
 * sandbox, writing nothing. Returns what the engine would apply — children stamped
 * with owner reference and label exactly as `prepareChildren` stamps them — the
 * status it would write, the logs and events the code produced, and diagnostics.
 *
 * Used by the editor's dry-run panel and by `chakrator test`. Never throws for bad
 * input: every failure is in the result (`ok: false`, with `error` or diagnostics).
 */
import type { KubeObject } from "../kube/client.ts";
import { EDITOR_HOST, SandboxError, userMessage, type HostBridge, type RevisionRunner } from "../sandbox/index.ts";
import { formatDiagnostics, type Diagnostic } from "../reconcilers/compile-diagnostics.ts";
import type { CompileOptions, Compiler } from "../reconcilers/compile-process.ts";
import type { LogLevel } from "../telemetry/log.ts";
import type { Resource } from "../../types/chakrator.d.ts";
import { InvalidChildError, prepareChildren } from "./children.ts";

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
}

function invalidResource(res: KubeObject | undefined): boolean {
  return !res || typeof res !== "object" || typeof res.apiVersion !== "string" || typeof res.kind !== "string" || typeof res.metadata?.name !== "string";
}

let runs = 0;

/** Runs `files` against `resource`; see the module comment. */
export async function dryRun(input: DryRunInput): Promise<DryRunResult> {
  const started = performance.now();
  const logs: DryRunLog[] = [];
  const events: DryRunResult["events"] = [];
  const done = (r: Omit<DryRunResult, "logs" | "events" | "durationMs">): DryRunResult => ({ ...r, logs, events, durationMs: performance.now() - started });

  const compiled = await input.compiler.compile(input.files, input.compileOptions);
  if (!compiled.ok) return done({ ok: false, diagnostics: compiled.diagnostics, children: [], error: { reason: "CompileError", message: formatDiagnostics(compiled.diagnostics, 5) } });
  const invalid = () => done({ ok: false, diagnostics: compiled.diagnostics, children: [], error: { reason: "InvalidResource", message: "the resource needs apiVersion, kind and metadata.name" } });
  if (!input.target && invalidResource(input.resource as KubeObject)) return invalid();
  const id = `dryrun-${++runs}@${compiled.hash.slice(0, 16)}`;
  let targetFailed: { error: unknown } | undefined;
  try {
    const loaded = await input.sandbox.load({ id, modules: compiled.modules, entry: compiled.entry, host: input.host ?? EDITOR_HOST });
    const kinds = { for: loaded.for, owns: loaded.owns };
    let raw = input.resource as KubeObject;
    if (input.target) {
      try {
        raw = (await input.target(kinds)) as KubeObject;
      } catch (error: unknown) {
        targetFailed = { error };
        throw error;
      }
      if (invalidResource(raw)) return invalid();
    }
    // A stand-in identity, so children get well-formed owner references without a cluster.
    const resource: KubeObject = { ...raw, metadata: { namespace: "default", uid: "00000000-0000-0000-0000-000000000000", generation: 1, ...raw.metadata } };
    if (loaded.for.apiVersion !== resource.apiVersion || loaded.for.kind !== resource.kind) {
      return done({ ok: false, diagnostics: compiled.diagnostics, children: [], ...kinds, error: { reason: "WrongKind", message: `this reconciler is for ${loaded.for.apiVersion}/${loaded.for.kind}, not ${resource.apiVersion}/${resource.kind}` } });
    }
    const bridge: HostBridge = {
      get: input.read?.get ?? (async () => undefined),
      list: input.read?.list ?? (async () => []),
      log: (level, message, fields) => logs.push(fields ? { level, message, fields } : { level, message }),
      event: (e) => events.push({ type: e.type ?? "Normal", reason: e.reason, message: e.message }),
    };
    const result = await input.sandbox.call(id, "reconcile", resource as Resource, bridge);
    const children = prepareChildren(resource, result.children, loaded.owns);
    const out: Omit<DryRunResult, "logs" | "events" | "durationMs"> = { ok: true, diagnostics: compiled.diagnostics, children, ...kinds };
    if (result.status) out.status = result.status;
    if (result.requeueAfterSeconds !== undefined) out.requeueAfterSeconds = result.requeueAfterSeconds;
    return done(out);
  } catch (err: unknown) {
    if (targetFailed) throw targetFailed.error;
    const reason = err instanceof InvalidChildError ? "InvalidChild" : err instanceof SandboxError ? err.name.replace(/Error$/, "") || "SandboxError" : "Error";
    const message = err instanceof SandboxError ? userMessage(err) : err instanceof Error ? err.message : String(err);
    return done({ ok: false, diagnostics: compiled.diagnostics, children: [], error: { reason, message } });
  } finally {
    await input.sandbox.unload(id).catch(() => {});
  }
}
