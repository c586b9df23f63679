/**
 * The compiler out of the operator's process: a supervised child process that holds a
 * warm `ReconcilerCompiler` and answers `compile` requests over IPC.
 *
 * Why: type-checking is synchronous and its cost depends on the user's source (a
 * pathological one takes seconds, or overflows the compiler's stack). In the operator's
 * own thread that would stall every watch and reconcile; here the operator only waits
 * for an answer, with a deadline. The TypeScript compiler's memory (about 90 MiB warm)
 * also stays out of the operator's process.
 *
 * Guarantees: `compile` never rejects. A request that takes longer than `timeoutMs`,
 * or a child that dies, yields a failed CompileResult with one diagnostic saying so, and
 * the child is restarted (warm again after its first compile). Requests are answered in
 * order, one at a time, as the in-process compiler did. After `idleMs` without work the
 * child exits, giving its memory back; the next compile starts it again (cold, ~0.5 s).
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CompileResult } from "./compile.ts";
import { ChakratorCode } from "./compile-diagnostics.ts";
import { hashModules, normalizeText } from "./compile-input.ts";

const WORKER = fileURLToPath(new URL("./compile-worker.ts", import.meta.url));

/** What compiles sources: the in-process `ReconcilerCompiler` or a `CompilerProcess`. */
export interface Compiler {
  compile(files: Readonly<Record<string, string>>): CompileResult | Promise<CompileResult>;
}

interface Pending {
  id: number;
  files: Readonly<Record<string, string>>;
  resolve: (r: CompileResult) => void;
  timer: NodeJS.Timeout | undefined;
}

/** A compiler in a child process; see the module comment. */
export class CompilerProcess implements Compiler {
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  #idleTimer: NodeJS.Timeout | undefined;
  #child: ChildProcess | undefined;
  #queue: Pending[] = [];
  #current: Pending | undefined;
  #ids = 0;
  #closed = false;

  constructor(options: { timeoutMs?: number; idleMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#idleMs = options.idleMs ?? 5 * 60_000;
  }

  /** The child's pid (tests kill it). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  compile(files: Readonly<Record<string, string>>): Promise<CompileResult> {
    if (this.#closed) return Promise.resolve(failure(files, "the compiler was stopped"));
    return new Promise((resolve) => {
      this.#queue.push({ id: ++this.#ids, files, resolve, timer: undefined });
      this.#next();
    });
  }

  #spawn(): ChildProcess {
    const child = fork(WORKER, [], { serialization: "advanced", stdio: ["ignore", "ignore", "inherit", "ipc"], execArgv: ["--disable-warning=ExperimentalWarning"] });
    child.on("message", (msg: { id: number; result: CompileResult }) => {
      const cur = this.#current;
      if (!cur || cur.id !== msg.id) return;
      clearTimeout(cur.timer);
      this.#current = undefined;
      cur.resolve(msg.result);
      this.#next();
    });
    child.on("exit", (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      const cur = this.#current;
      if (cur) {
        clearTimeout(cur.timer);
        this.#current = undefined;
        cur.resolve(failure(cur.files, `the compiler process died (${signal ?? `exit ${code}`}) while checking this source; it was restarted`));
      }
      this.#next();
    });
    child.on("error", () => child.kill("SIGKILL"));
    // The operator may exit while the compiler idles.
    child.unref();
    (child as unknown as { channel?: { unref(): void } }).channel?.unref();
    return child;
  }

  #next(): void {
    if (this.#current || this.#closed) return;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    const job = this.#queue.shift();
    if (!job) {
      this.#idleTimer = setTimeout(() => {
        if (this.#current || this.#queue.length > 0) return;
        this.#child?.kill("SIGTERM");
        this.#child = undefined;
      }, this.#idleMs);
      this.#idleTimer.unref();
      return;
    }
    this.#child ??= this.#spawn();
    const child = this.#child;
    this.#current = job;
    job.timer = setTimeout(() => {
      if (this.#current !== job) return;
      this.#current = undefined;
      job.resolve(failure(job.files, `type-checking took longer than ${this.#timeoutMs} ms; simplify the source (the compiler was restarted)`));
      child.kill("SIGKILL");
      if (this.#child === child) this.#child = undefined;
      this.#next();
    }, this.#timeoutMs);
    child.send({ id: job.id, files: job.files });
  }

  /** Stops the child; pending and later calls get a failure result. */
  close(): void {
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    for (const job of [this.#current, ...this.#queue.splice(0)]) {
      if (!job) continue;
      clearTimeout(job.timer);
      job.resolve(failure(job.files, "the compiler was stopped"));
    }
    this.#current = undefined;
    this.#child?.kill("SIGKILL");
    this.#child = undefined;
  }
}

function failure(files: Readonly<Record<string, string>>, message: string): CompileResult {
  let hash = "";
  try {
    hash = hashModules(new Map(Object.entries(files).filter(([k]) => k.endsWith(".ts")).map(([k, v]) => [k, normalizeText(String(v))])));
  } catch {
    // Unhashable input: leave the hash empty; the result is a failure anyway.
  }
  return { ok: false, hash, diagnostics: [{ file: "", line: 0, column: 0, code: ChakratorCode.CompilerFailure, severity: "error", message }] };
}
