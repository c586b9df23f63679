/**
 * The compiler process with the cluster's kind typings: before each compile or
 * language request, the apiVersions the source names are looked up in
 * {@link KindTypings} (generated from /openapi/v3, cached by schema hash) and the
 * compiler process is told which versions to use. Texts travel only when the
 * process lacks them: it answers `need-kinds` (after a restart, or a schema change),
 * and the request is sent again with those modules. So a warm edit sends a few
 * version strings, not megabytes of declarations.
 *
 * Bounded: looking up the typings waits at most `lookupMs` (default 3 s; the API
 * server may be slow or gone). Past that the request goes ahead with what the
 * process already has, and a kind without typings is the loose `Child`. Never
 * rejects, like CompilerProcess.
 */
import type { CompileResult, LanguageAnswer, LanguageRequest } from "./compile.ts";
import { compilerFailure, CompilerProcess, type CompileOptions, type WorkerReply } from "./compile-process.ts";
import type { KindModule, KindTypings } from "./kinds.ts";

/** What the compiler process is told about kind typings with a request. */
export interface KindsPayload {
  /** apiVersion and version of each module the source needs. */
  refs: Array<{ apiVersion: string; version: string }>;
  /** Module texts the process asked for. */
  texts?: KindModule[];
  /** Every apiVersion the cluster serves. */
  served: string[];
}

/** A CompilerProcess that types kinds from the cluster; see the module comment. */
export class KindAwareCompiler extends CompilerProcess {
  readonly #kinds: KindTypings | undefined;
  readonly #lookupMs: number;

  constructor(options: ConstructorParameters<typeof CompilerProcess>[0] & { kinds?: KindTypings; lookupMs?: number } = {}) {
    const { kinds, lookupMs, ...rest } = options;
    super(rest);
    this.#kinds = kinds;
    this.#lookupMs = lookupMs ?? 3_000;
  }

  override compile(files: Readonly<Record<string, string>>, options: CompileOptions = {}): Promise<CompileResult> {
    if (this.#kinds === undefined) return super.compile(files, options);
    return this.#withKinds(files, (kinds) =>
      this.request(options.lane ?? "operator", { t: "compile", files, kinds }, readCompile, (message) => ({ reply: compilerFailure(files, message) })));
  }

  /** A language service request (language-service.ts) with the same typings. Never rejects. */
  language(req: LanguageRequest, options: CompileOptions = {}): Promise<LanguageAnswer> {
    return this.#withKinds(req.files, (kinds) =>
      this.request(options.lane ?? "editor", { t: "language", request: req, kinds }, readLanguage, (message) => ({ reply: { ok: false, error: message } as LanguageAnswer })));
  }

  /** Sends a request with the kinds payload; once more with texts if the process asks. */
  async #withKinds<T>(files: Readonly<Record<string, string>>, send: (kinds: KindsPayload | undefined) => Promise<{ reply: T } | { need: string[] }>): Promise<T> {
    const found = await this.#lookup(files);
    const payload: KindsPayload | undefined = found && { refs: found.modules.map((m) => ({ apiVersion: m.apiVersion, version: m.version })), served: found.known };
    let answer = await send(payload);
    if ("need" in answer) {
      // The process lacks some modules (new, changed, or it restarted): send them once.
      const need = answer.need;
      const texts = (found?.modules ?? []).filter((m) => need.includes(m.apiVersion));
      answer = await send(payload && { ...payload, texts });
    }
    if ("need" in answer) answer = await send(undefined); // it cannot take them: go on without
    if ("need" in answer) throw new Error("the compiler process keeps asking for kind typings");
    return answer.reply;
  }

  async #lookup(files: Readonly<Record<string, string>>): Promise<{ modules: KindModule[]; known: string[] } | undefined> {
    const kinds = this.#kinds;
    if (kinds === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#lookupMs);
      timer.unref();
    });
    try {
      return await Promise.race([kinds.modulesFor(files).catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function readCompile(reply: WorkerReply): { reply: CompileResult } | { need: string[] } {
  if (reply.t === "need-kinds") return { need: reply["missing"] as string[] };
  return { reply: reply["result"] as CompileResult };
}

function readLanguage(reply: WorkerReply): { reply: LanguageAnswer } | { need: string[] } {
  if (reply.t === "need-kinds") return { need: reply["missing"] as string[] };
  return { reply: reply["answer"] as LanguageAnswer };
}
