/**
 * Admission dry run: what a (possibly unsaved) source's `mutate` and `validate` say
 * about one object, in the sandbox, without a cluster: mutate's object and the JSON
 * Patch the webhook would send, then validate's answer on the mutated object, as the
 * API server orders them. Used by `chakrator test --admission`; never throws for bad
 * input (every failure is in the result).
 */
import type { KubeObject } from "../kube/client.ts";
import { SandboxError, userMessage, type HostBridge, type Sandbox } from "../sandbox/index.ts";
import type { Diagnostic } from "../reconcilers/compile-diagnostics.ts";
import type { CompileOptions, Compiler } from "../reconcilers/compile-process.ts";
import type { Resource, ValidateResult } from "../../types/chakrator.d.ts";
import { withTrial, type Trial } from "../engine/dryrun.ts";
import { jsonPatch, protectedChange, type PatchOperation } from "./patch.ts";

export interface AdmissionDryRunInput {
  compiler: Compiler;
  sandbox: Pick<Sandbox, "load" | "call" | "unload">;
  /** Reconciler ConfigMap data. */
  files: Record<string, string>;
  operation: "CREATE" | "UPDATE";
  object: unknown;
  /** The stored object, for UPDATE (default: `object` itself). */
  oldObject?: unknown;
  /** The user the request claims to come from. Default "chakrator-test". */
  username?: string;
  /** The sandbox host that runs it; default the editor's (never a production reconciler's). */
  host?: string;
  compileOptions?: CompileOptions;
  /** A trial already open for `files` (engine/dryrun.ts `openTrial`): used instead of compiling and loading again, and left open. */
  trial?: Trial;
}

export interface AdmissionDryRunResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** Present when the source has `mutate`. */
  mutate?: { object: KubeObject; patch: PatchOperation[] } | { error: string };
  /** Present when the source has `validate`. */
  validate?: ValidateResult | { error: string };
  /** The request would be admitted (failure policy Fail: a failure refuses). */
  allowed: boolean;
  logs: Array<{ level: string; message: string }>;
  error?: string;
}

/** The `error` of a source without admission exports. */
export const NO_ADMISSION = "the source exports neither validate nor mutate";

/** Runs `mutate` then `validate` of `files` on the object; see the module comment. */
export async function admissionDryRun(input: AdmissionDryRunInput): Promise<AdmissionDryRunResult> {
  return withTrial(input, (trial) => judge(input, trial));
}

async function judge(input: AdmissionDryRunInput, trial: Trial): Promise<AdmissionDryRunResult> {
  const logs: AdmissionDryRunResult["logs"] = [];
  const { compiled } = trial;
  const base = { diagnostics: compiled.diagnostics, logs };
  if (!compiled.ok) return { ...base, ok: false, allowed: false, error: "the source does not compile" };
  const object = input.object as KubeObject;
  if (!object || typeof object !== "object" || typeof object.apiVersion !== "string" || typeof object.kind !== "string" || typeof object.metadata?.name !== "string") {
    return { ...base, ok: false, allowed: false, error: "the object needs apiVersion, kind and metadata.name" };
  }
  const load = await trial.load();
  if ("loadError" in load) return { ...base, ok: false, allowed: false, error: messageOf(load.loadError) };
  const { id, loaded } = load;
  const bridge: HostBridge = {
    get: async () => undefined,
    list: async () => [],
    log: (level, message) => logs.push({ level, message }),
    event: (e) => logs.push({ level: "info", message: `event ${e.type ?? "Normal"} ${e.reason}: ${e.message}` }),
  };
  try {
    if (loaded.for.apiVersion !== object.apiVersion || loaded.for.kind !== object.kind) {
      return { ...base, ok: false, allowed: false, error: `this reconciler is for ${loaded.for.apiVersion}/${loaded.for.kind}, not ${object.apiVersion}/${object.kind}` };
    }
    if (!loaded.hasValidate && !loaded.hasMutate) return { ...base, ok: false, allowed: true, error: NO_ADMISSION };
    const request = {
      uid: "00000000-0000-0000-0000-000000000000",
      operation: input.operation,
      userInfo: { username: input.username ?? "chakrator-test" },
      dryRun: true,
      ...(input.operation === "UPDATE" ? { oldObject: (input.oldObject ?? object) as Resource } : {}),
    };
    const out: AdmissionDryRunResult = { ...base, ok: true, allowed: true };
    let admitted = object;
    if (loaded.hasMutate) {
      try {
        const mutated = await input.sandbox.call(id, "mutate", { object: object as Resource, request }, bridge);
        const changed = protectedChange(object, mutated);
        if (changed !== undefined) throw new Error(`mutate may not change ${changed}`);
        out.mutate = { object: mutated as KubeObject, patch: jsonPatch(object, mutated) };
        admitted = mutated as KubeObject;
      } catch (err: unknown) {
        out.mutate = { error: messageOf(err) };
        out.allowed = false;
        out.ok = false;
        return out;
      }
    }
    if (loaded.hasValidate) {
      try {
        out.validate = await input.sandbox.call(id, "validate", { object: admitted as Resource, request }, bridge);
        out.allowed = out.validate.allowed;
      } catch (err: unknown) {
        out.validate = { error: messageOf(err) };
        out.allowed = false;
        out.ok = false;
      }
    }
    return out;
  } catch (err: unknown) {
    return { ...base, ok: false, allowed: false, error: messageOf(err) };
  }
}

function messageOf(err: unknown): string {
  return err instanceof SandboxError ? userMessage(err) : err instanceof Error ? err.message : String(err);
}
