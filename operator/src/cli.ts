#!/usr/bin/env node
/**
 * `chakrator`: the command line, for working on a reconciler without a cluster.
 *
 *   chakrator test <reconciler.ts | dir> <resource.yaml> [--json] [--timeout-ms N]
 *                  [--admission create|update [--old old.yaml]]
 *
 * runs the reconciler once, offline, in the same sandbox and through the same
 * `dryRun` as the editor's dry-run panel: the file becomes `reconciler.ts` and its
 * sibling `*.ts` files the modules it may import (what a reconciler ConfigMap holds).
 * It prints the children (stamped with owner reference and label, as the engine
 * applies them) and the status as YAML on stdout, or JSON with `--json`; the code's
 * logs and events go to stderr, so stdout stays a clean document.
 *
 * Exit codes: 0 success; 1 the source does not compile (diagnostics as
 * `file:line:col error TSnnnn: message`, paths as given) or the reconcile failed (its
 * message); 2 usage errors (unreadable files, bad arguments), with the usage text.
 * `ctx.get`/`ctx.list` see an empty cache: nothing exists offline.
 *
 *   chakrator rbac <reconciler.ts | dir> [--namespace NS] [--service-account NAME]
 *                  [--watch-namespace NS|"*"] [--annotations FILE] [--plural Kind=plural]
 *                  [--no-discovery]
 *
 * compiles and loads the reconciler the same way (so `for`, `owns` and whether it has
 * `finalize` are what the operator would read) and prints the ServiceAccount, Role and
 * RoleBinding (ClusterRole and ClusterRoleBinding with watch-namespace "*") that those
 * kinds need, and nothing more (`rbacRules`). Resource names come from discovery on the
 * current kube context when it answers, else from `guessPlural` (kube/discovery.ts).
 *
 * With `--admission create|update` it runs the admission exports instead, as the API
 * server would: `mutate` (its object and the JSON Patch) then `validate` on the mutated
 * object (on UPDATE with `--old` as the stored object, default the resource itself).
 * Exit code 1 when the request would be refused.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { admissionDryRun } from "./admission/dryrun.ts";
import { dryRun, type DryRunResult } from "./engine/dryrun.ts";
import { discover, guessPlural } from "./kube/discovery.ts";
import { rbacObjects, rbacRules, type RbacKind } from "./kube/rbac.ts";
import { Sandbox } from "./sandbox/index.ts";
import { ENTRY, ReconcilerCompiler, type Diagnostic } from "./reconcilers/compile.ts";
import { isModuleKey } from "./reconcilers/source-keys.ts";
import { parseTypesArgs, runTypes, TypesUsageError, type TypesArgs } from "./types-cli.ts";

/** `chakrator types` arguments; a bad one is a usage error (exit 2). */
function typesArgs(rest: readonly string[]): TypesArgs {
  try {
    return parseTypesArgs(rest);
  } catch (err: unknown) {
    throw err instanceof TypesUsageError ? new UsageError(err.message) : err;
  }
}

/** The usage text printed by `--help` and on usage errors. */
export const usage = `Usage:
  chakrator test <reconciler.ts | dir> <resource.yaml> [--json] [--timeout-ms N]
                 [--admission create|update [--old old.yaml]]
  chakrator rbac <reconciler.ts | dir> [--namespace NS] [--service-account NAME]
                 [--watch-namespace NS|"*"] [--annotations FILE]
                 [--plural Kind=plural]... [--no-discovery]
  chakrator types [--out DIR] [--api-versions v1,apps/v1,...]
  chakrator --help

Commands:
  test   Run a reconciler offline against one resource, in the sandbox the operator
         uses, and print the children and status it would produce (YAML, or JSON
         with --json). The file is the entry module (reconciler.ts); sibling *.ts
         files are the modules it may import. Logs and events go to stderr.
         --admission create|update runs mutate and validate instead, as the API
         server would (--old: the stored object on update; default the resource).
  rbac   Print the least RBAC the reconciler's for and owns kinds need, as YAML for
         kubectl apply -f -: a ServiceAccount (default: named after the folder) in
         --namespace (default "default"), a Role and a RoleBinding; a ClusterRole and
         ClusterRoleBinding when it watches every namespace (--watch-namespace "*",
         or chakrator.dev/watch-namespace in the --annotations file: a ConfigMap
         YAML or a map of annotations). Resource names come from the current kube
         context's discovery when it answers (--no-discovery: never ask); otherwise
         the lowercase plural (y -> ies after a consonant; s, x, z, ch, sh -> es;
         else s); --plural Kind=name overrides one.
  types  Write the typings a reconciler sees for a local editor: DIR/tsconfig.json
         and DIR/.chakrator/ (the contract, the current kube context's kinds as
         "chakrator/<apiVersion>" modules, and DIR/reconciler.ts's for/owns kinds).
         DIR defaults to "."; run it again after a CRD changes.

Exit codes: 0 success, 1 compile error, failed reconcile or refused admission, 2 usage error.
`;

/** A usage error: exit code 2 and the usage text. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What `chakrator test` parsed from its arguments. */
export interface TestArgs {
  source: string;
  resource: string;
  json: boolean;
  timeoutMs: number;
  /** Run the admission exports for this operation instead of reconcile. */
  admission?: "CREATE" | "UPDATE";
  /** The stored object's file, for `--admission update`. */
  old?: string;
}

/** Parses `test`'s arguments; throws `UsageError`. */
export function parseTestArgs(args: readonly string[]): TestArgs {
  const positional: string[] = [];
  let json = false;
  let timeoutMs = 5000;
  let admission: TestArgs["admission"];
  let old: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--json") json = true;
    else if (a === "--admission" || a.startsWith("--admission=")) {
      const raw = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      if (raw !== "create" && raw !== "update") throw new UsageError(`--admission needs create or update, not ${raw ?? "nothing"}`);
      admission = raw === "create" ? "CREATE" : "UPDATE";
    } else if (a === "--old" || a.startsWith("--old=")) {
      old = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      if (!old) throw new UsageError("--old needs a file");
    }
    else if (a === "--timeout-ms" || a.startsWith("--timeout-ms=")) {
      const raw = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      const n = Number(raw);
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--timeout-ms needs a positive integer, not ${raw ?? "nothing"}`);
      timeoutMs = n;
    } else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 2) throw new UsageError(`test needs a reconciler and a resource file (got ${positional.length} arguments)`);
  if (old !== undefined && admission !== "UPDATE") throw new UsageError("--old goes with --admission update");
  return { source: positional[0]!, resource: positional[1]!, json, timeoutMs, ...(admission ? { admission } : {}), ...(old !== undefined ? { old } : {}) };
}

/**
 * The ConfigMap data for `source` (a file or a folder holding `reconciler.ts`), and
 * the path each key came from. Throws `UsageError` when it cannot be read.
 */
export function readSource(source: string): { files: Record<string, string>; paths: Record<string, string> } {
  if (!existsSync(source)) throw new UsageError(`${source}: no such file or folder`);
  const entry = statSync(source).isDirectory() ? join(source, ENTRY) : source;
  if (!existsSync(entry)) throw new UsageError(`${source}: the folder has no ${ENTRY}`);
  const dir = dirname(entry);
  const files: Record<string, string> = { [ENTRY]: readFileSync(entry, "utf8") };
  const paths: Record<string, string> = { [ENTRY]: entry };
  for (const f of readdirSync(dir).sort()) {
    if (!isModuleKey(f) || f.endsWith(".test.ts") || f === basename(entry) || f === ENTRY) continue;
    const p = join(dir, f);
    if (!statSync(p).isFile()) continue;
    files[f] = readFileSync(p, "utf8");
    paths[f] = p;
  }
  return { files, paths };
}

/** Reads the one resource of a YAML (or JSON) file. Throws `UsageError`. */
export function readResource(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err: unknown) {
    throw new UsageError(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new UsageError(`${path}: not YAML`);
  const values = docs.filter((d) => d.contents !== null);
  const broken = values.find((d) => d.errors.length > 0);
  if (broken) throw new UsageError(`${path}: ${broken.errors[0]!.message}`);
  if (values.length !== 1) throw new UsageError(`${path}: expected one resource, found ${values.length}`);
  return values[0]!.toJS();
}

/** `file:line:col error TSnnnn: message`, with the file as the user named it. */
export function formatDiagnostic(d: Diagnostic, paths: Record<string, string>): string {
  const where = d.file === "" ? "" : `${paths[d.file] ?? d.file}:${d.line}:${d.column} `;
  const code = d.code >= 99000 ? `CHK${d.code}` : `TS${d.code}`;
  return `${where}${d.severity} ${code}: ${d.message.replace(/\s*\n\s*/g, " ").trim()}`;
}

/** The document `test` prints: what the engine would apply and write. */
export function testOutput(r: DryRunResult): Record<string, unknown> {
  // Manifest order (apiVersion, kind, metadata, then the rest), as people read them.
  const children = r.children.map(({ apiVersion, kind, metadata, ...rest }) => ({ apiVersion, kind, metadata, ...rest }));
  const out: Record<string, unknown> = { children, status: r.status ?? {} };
  if (r.requeueAfterSeconds !== undefined) out.requeueAfterSeconds = r.requeueAfterSeconds;
  if (r.events.length > 0) out.events = r.events;
  return out;
}

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Runs `chakrator test`; resolves to the exit code. */
export async function runTest(args: TestArgs, io: Io): Promise<number> {
  const { files, paths } = readSource(args.source);
  const resource = readResource(args.resource);
  const sandbox = await Sandbox.start({ timeoutMs: args.timeoutMs, poolSize: 1 });
  if (args.admission) return runAdmission(args, files, paths, resource, sandbox, io);
  let result: DryRunResult;
  try {
    result = await dryRun({ compiler: new ReconcilerCompiler(), sandbox, files, resource });
  } finally {
    await sandbox.close();
  }
  for (const l of result.logs) io.err(`${l.level} ${l.message}${l.fields ? ` ${JSON.stringify(l.fields)}` : ""}\n`);
  for (const e of result.events) io.err(`event ${e.type} ${e.reason}: ${e.message}\n`);
  const problems = result.diagnostics.filter((d) => d.severity === "error" || !result.ok);
  for (const d of problems) io.err(`${formatDiagnostic(d, paths)}\n`);
  if (!result.ok) {
    if (!result.diagnostics.some((d) => d.severity === "error")) {
      io.err(`${relative(process.cwd(), args.source) || args.source}: ${result.error?.reason ?? "Error"}: ${result.error?.message ?? "the reconcile failed"}\n`);
    }
    return 1;
  }
  const doc = testOutput(result);
  io.out(args.json ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc, { lineWidth: 0 }));
  return 0;
}

/** `chakrator test --admission`: mutate then validate; closes the sandbox; resolves to the exit code. */
async function runAdmission(args: TestArgs, files: Record<string, string>, paths: Record<string, string>, resource: unknown, sandbox: Sandbox, io: Io): Promise<number> {
  const oldObject = args.old !== undefined ? readResource(args.old) : undefined;
  let result;
  try {
    result = await admissionDryRun({ compiler: new ReconcilerCompiler(), sandbox, files, operation: args.admission!, object: resource, ...(oldObject !== undefined ? { oldObject } : {}) });
  } finally {
    await sandbox.close();
  }
  for (const l of result.logs) io.err(`${l.level} ${l.message}\n`);
  for (const d of result.diagnostics.filter((x) => x.severity === "error")) io.err(`${formatDiagnostic(d, paths)}\n`);
  if (result.error !== undefined) {
    io.err(`${relative(process.cwd(), args.source) || args.source}: ${result.error}\n`);
    return result.allowed ? 0 : 1;
  }
  const doc: Record<string, unknown> = { allowed: result.allowed };
  if (result.mutate) doc.mutate = result.mutate;
  if (result.validate) doc.validate = result.validate;
  io.out(args.json ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc, { lineWidth: 0 }));
  if (!result.allowed) {
    const refusal = result.validate && "message" in result.validate ? result.validate.message : result.validate && "error" in result.validate ? result.validate.error : result.mutate && "error" in result.mutate ? result.mutate.error : "refused";
    io.err(`admission ${args.admission === "CREATE" ? "create" : "update"} refused: ${refusal}\n`);
  }
  return result.allowed ? 0 : 1;
}

/** What `chakrator rbac` parsed from its arguments. */
export interface RbacArgs {
  source: string;
  namespace: string;
  serviceAccount: string | undefined;
  watchNamespace: string | undefined;
  annotations: string | undefined;
  plurals: Record<string, string>;
  discovery: boolean;
}

/** Parses `rbac`'s arguments; throws `UsageError`. */
export function parseRbacArgs(args: readonly string[]): RbacArgs {
  const positional: string[] = [];
  const out: RbacArgs = { source: "", namespace: "default", serviceAccount: undefined, watchNamespace: undefined, annotations: undefined, plurals: {}, discovery: true };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf("=");
    const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = a.startsWith("--") && eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--namespace" || flag === "-n") out.namespace = value();
    else if (flag === "--service-account") out.serviceAccount = value();
    else if (flag === "--watch-namespace") out.watchNamespace = value();
    else if (flag === "--annotations") out.annotations = value();
    else if (flag === "--no-discovery") out.discovery = false;
    else if (flag === "--plural") {
      const v = value();
      const m = /^([A-Za-z][A-Za-z0-9]*)=([a-z0-9][-a-z0-9.]*)$/.exec(v);
      if (!m) throw new UsageError(`--plural needs Kind=plural (e.g. Ingress=ingresses), not ${v}`);
      out.plurals[m[1]!] = m[2]!;
    } else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) throw new UsageError(`rbac needs one reconciler file or folder (got ${positional.length} arguments)`);
  out.source = positional[0]!;
  return out;
}

/** A DNS label from a path: the folder for `reconciler.ts` or a folder, else the file's stem. */
function nameFromSource(source: string): string {
  const isDir = existsSync(source) && statSync(source).isDirectory();
  const base = isDir ? basename(source.replace(/\/+$/, "")) : basename(source) === ENTRY ? basename(dirname(source)) : basename(source).replace(/\.ts$/, "");
  const label = base.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "");
  return label || "reconciler";
}

/** The `chakrator.dev/watch-namespace` of an annotations file: a ConfigMap (or any object with metadata) or a plain map. */
function watchNamespaceFrom(file: string): string | undefined {
  const doc = readResource(file) as ({ metadata?: { annotations?: Record<string, unknown> } } & Record<string, unknown>) | null;
  const annotations: Record<string, unknown> = doc && typeof doc === "object" ? (doc.metadata?.annotations ?? doc) : {};
  const v = annotations["chakrator.dev/watch-namespace"];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Runs `chakrator rbac`; resolves to the exit code. */
export async function runRbac(args: RbacArgs, io: Io): Promise<number> {
  const { files, paths } = readSource(args.source);
  const watch = args.watchNamespace ?? (args.annotations ? watchNamespaceFrom(args.annotations) : undefined);
  const compiled = new ReconcilerCompiler().compile(files);
  if (!compiled.ok) {
    for (const d of compiled.diagnostics.filter((x) => x.severity === "error")) io.err(`${formatDiagnostic(d, paths)}\n`);
    return 1;
  }
  const sandbox = await Sandbox.start({ poolSize: 1 });
  let loaded;
  try {
    loaded = await sandbox.load({ id: `rbac@${compiled.hash.slice(0, 16)}`, modules: compiled.modules, entry: compiled.entry });
  } catch (err: unknown) {
    io.err(`${args.source}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await sandbox.close();
  }
  const found = args.discovery ? await discover([loaded.for, ...loaded.owns]) : { server: undefined, resources: new Map<string, { plural: string; namespaced: boolean }>() };
  if (args.discovery) io.err(found.server ? `chakrator: resource names from discovery on ${found.server}\n` : "chakrator: no reachable kube context; resource names by the plural rule\n");
  const toRbac = (k: { apiVersion: string; kind: string }): RbacKind => {
    const group = k.apiVersion.includes("/") ? k.apiVersion.slice(0, k.apiVersion.indexOf("/")) : "";
    const override = args.plurals[k.kind];
    const info = found.resources.get(`${k.apiVersion}/${k.kind}`);
    if (override) return { group, resource: override, namespaced: info?.namespaced ?? true };
    if (info) return { group, resource: info.plural, namespaced: info.namespaced };
    if (found.server) io.err(`chakrator: ${k.apiVersion}/${k.kind} is not served by ${found.server}; using "${guessPlural(k.kind)}" (--plural ${k.kind}=... to override)\n`);
    return { group, resource: guessPlural(k.kind), namespaced: true };
  };
  const forKind = toRbac(loaded.for);
  const owns = loaded.owns.map(toRbac);
  const name = nameFromSource(args.source);
  const sa = args.serviceAccount ?? name;
  const rules = rbacRules(forKind, owns, loaded.hasFinalize);
  const clusterScoped = [forKind, ...owns].filter((k) => !k.namespaced).map((k) => k.resource);
  const clusterWide = watch === "*" || clusterScoped.length > 0;
  if (clusterScoped.length > 0 && watch !== "*") io.err(`chakrator: ${clusterScoped.join(", ")} ${clusterScoped.length === 1 ? "is" : "are"} cluster-scoped: a ClusterRole is needed\n`);
  const objects = rbacObjects({ name, namespace: args.namespace, serviceAccount: sa, rules, clusterWide, ...(watch !== undefined && watch !== "*" ? { watchNamespace: watch } : {}) });
  const scope = clusterWide ? "in every namespace" : `in namespace ${watch ?? args.namespace}`;
  const kindList = [`for ${loaded.for.apiVersion}/${loaded.for.kind}${loaded.hasFinalize ? " (with finalize)" : ""}`, ...loaded.owns.map((o) => `owns ${o.apiVersion}/${o.kind}`)].join(", ");
  io.out(`# RBAC for the reconciler ${args.source}: ${kindList}, ${scope}.\n# kubectl apply -f - (printed by chakrator rbac)\n`);
  io.out(objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"));
  return 0;
}

/** The whole command line; resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") {
    io.out(usage);
    return 0;
  }
  try {
    if (command !== "test" && command !== "rbac" && command !== "types") throw new UsageError(command === undefined ? "no command given" : `unknown command ${command}`);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(usage);
      return 0;
    }
    if (command === "rbac") return await runRbac(parseRbacArgs(rest), io);
    if (command === "types") return await runTypes(typesArgs(rest), io);
    return await runTest(parseTestArgs(rest), io);
  } catch (err: unknown) {
    if (err instanceof UsageError) {
      io.err(`chakrator: ${err.message}\n\n${usage}`);
      return 2;
    }
    io.err(`chakrator: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
