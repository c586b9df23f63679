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
 * the child is restarted (warm again after its first compile). Requests are answered
 * one at a time, in two lanes: the operator's own revisions first, then editor work
 * (validation, dry runs, language service), each lane in order, so an editor flood
 * never delays a reconciler's hot reload by more than the one check that is running.
 * After `idleMs` without work the child exits, giving its memory back; the next compile
 * starts it again (cold, ~0.5 s). Its RSS is capped (`maxRssMb`, default 1024): a
 * check that balloons is killed like one that runs too long.
 *
 * Process handling (fork, ready, exit, the reaper) is child/supervised.ts, shared with
 * the sandbox hosts.
 */
import { fileURLToPath } from "node:url";
import { jsEntry } from "../child/js-entry.ts";
import { Replies } from "../child/replies.ts";
import { SupervisedChild, type ExitReason } from "../child/supervised.ts";
import type { CompileResult } from "./compile.ts";
import { ChakratorCode } from "./compile-diagnostics.ts";
import { hashModules, normalizeText } from "./compile-input.ts";
import { isSourceKey } from "./source-keys.ts";

const WORKER = fileURLToPath(new URL("./compile-worker.ts", import.meta.url));

/** What compiles sources: the in-process `ReconcilerCompiler` or a `CompilerProcess`. */
export interface Compiler {
  compile(files: Readonly<Record<string, string>>, options?: CompileOptions): CompileResult | Promise<CompileResult>;
}

/** Which queue a request waits in. */
export type Lane = "operator" | "editor";

/**
 * `lane`: "operator" (default) for the operator's own revisions, "editor" for editor
 * validation and dry runs. Operator work is always served first.
 */
export interface CompileOptions {
  lane?: Lane;
}

/** A request to the worker: `t` names it, `id` is filled in here. */
export type WorkerRequest = { t: string; [field: string]: unknown };
/** The worker's reply: the same `id`, and `t` naming the request's answer. */
export type WorkerReply = { t: string; id: number; [field: string]: unknown };

interface Job {
  request: WorkerRequest;
  resolve(reply: WorkerReply): void;
  /** Settles the job with a failure saying `message` (never rejects the caller). */
  fail(message: string): void;
}

type Worker = SupervisedChild<WorkerRequest & { id: number }, WorkerReply>;

/** A compiler in a child process; see the module comment. */
export class CompilerProcess implements Compiler {
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  readonly #maxRssBytes: number;
  #idleTimer: NodeJS.Timeout | undefined;
  #child: Worker | undefined;
  readonly #lanes: Record<Lane, Job[]> = { operator: [], editor: [] };
  readonly #replies = new Replies<Job>();
  #closed = false;

  constructor(options: { timeoutMs?: number; idleMs?: number; maxRssMb?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    // A minute, not longer: the warm compiler is the largest of the operator's processes
    // (~170 MiB), and a cold start costs about half a second once per editing session.
    this.#idleMs = options.idleMs ?? 60_000;
    this.#maxRssBytes = (options.maxRssMb ?? 1024) * 1024 * 1024;
  }

  /** The child's pid (tests kill it). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Requests waiting, by lane (not counting the one running). */
  get waiting(): Record<Lane, number> {
    return { operator: this.#lanes.operator.length, editor: this.#lanes.editor.length };
  }

  compile(files: Readonly<Record<string, string>>, options: CompileOptions = {}): Promise<CompileResult> {
    return this.request<CompileResult>(options.lane ?? "operator", { t: "compile", files }, (reply) => reply["result"] as CompileResult, (message) => compilerFailure(files, message));
  }

  /**
   * Sends any request the worker understands (compile-worker.ts) through the same
   * lanes, deadline and restart handling; `read` turns the reply into the answer,
   * `failed` makes the answer when the request could not be served. Never rejects.
   */
  request<T>(lane: Lane, request: WorkerRequest, read: (reply: WorkerReply) => T, failed: (message: string) => T): Promise<T> {
    if (this.#closed) return Promise.resolve(failed("the compiler was stopped"));
    return new Promise<T>((resolve) => {
      let settled = false;
      const once = (value: T) => {
        if (settled) return;
        settled = true;
        resolve(value);
      };
      this.#lanes[lane].push({
        request,
        resolve: (reply) => {
          try {
            once(read(reply));
          } catch (error: unknown) {
            once(failed(`the compiler answered something unreadable: ${error instanceof Error ? error.message : String(error)}`));
          }
        },
        fail: (message) => once(failed(message)),
      });
      this.#next();
    });
  }

  #spawn(): Worker {
    const child: Worker = new SupervisedChild<WorkerRequest & { id: number }, WorkerReply>({
      modulePath: jsEntry(WORKER),
      execArgv: ["--disable-warning=ExperimentalWarning"],
      memory: { intervalMs: 500, maxRssBytes: () => this.#maxRssBytes },
      // The operator may exit while the compiler idles.
      unref: true,
      onMessage: (reply) => {
        const job = this.#replies.take(reply.id);
        if (job === undefined) return;
        job.meta.resolve(reply);
        this.#next();
      },
      onExit: (reason) => this.#onExit(child, reason),
    });
    return child;
  }

  #onExit(child: Worker, reason: ExitReason): void {
    if (this.#child === child) this.#child = undefined;
    const why = reason.kind === "memory"
      ? `used ${Math.round(reason.rssBytes / 2 ** 20)} MiB, over its limit of ${Math.round(reason.capBytes / 2 ** 20)} MiB`
      : reason.kind === "exited" ? `died (${reason.signal ?? `exit ${reason.code}`})` : "was killed";
    for (const job of this.#replies.rejectAll(() => new Error(why))) job.fail(`the compiler process ${why} while checking this source; it was restarted`);
    this.#next();
  }

  #next(): void {
    // One request at a time: the one waiting for its reply is the one running.
    if (this.#replies.size > 0 || this.#closed) return;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    const job = this.#lanes.operator.shift() ?? this.#lanes.editor.shift();
    if (!job) {
      this.#idleTimer = setTimeout(() => {
        if (this.#replies.size > 0 || this.#lanes.operator.length + this.#lanes.editor.length > 0) return;
        const child = this.#child;
        this.#child = undefined;
        void child?.stop();
      }, this.#idleMs);
      this.#idleTimer.unref();
      return;
    }
    this.#child ??= this.#spawn();
    const child = this.#child;
    const { id, promise } = this.#replies.open<void>(job, this.#timeoutMs, () => {
      this.#replies.take(id);
      job.fail(`type-checking took longer than ${this.#timeoutMs} ms; simplify the source (the compiler was restarted)`);
      if (this.#child === child) this.#child = undefined;
      child.kill();
      this.#next();
    });
    promise.catch(() => {});
    // If the channel is closing, the send fails and the exit handler fails the job.
    child.send({ ...job.request, id });
  }

  /** Stops the child; pending and later calls get a failure result. */
  close(): void {
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    for (const job of this.#replies.rejectAll(() => new Error("stopped"))) job.fail("the compiler was stopped");
    for (const job of [...this.#lanes.operator.splice(0), ...this.#lanes.editor.splice(0)]) job.fail("the compiler was stopped");
    this.#child?.kill();
    this.#child = undefined;
  }
}

/** The result of a compile the compiler never answered: one `CompilerFailure` diagnostic saying `message`, hashed over the source keys. */
export function compilerFailure(files: Readonly<Record<string, string>>, message: string): CompileResult {
  let hash = "";
  try {
    hash = hashModules(new Map(Object.entries(files).filter(([k]) => isSourceKey(k)).map(([k, v]) => [k, normalizeText(String(v))])));
  } catch {
    // Unhashable input: leave the hash empty; the result is a failure anyway.
  }
  return { ok: false, hash, diagnostics: [{ file: "", line: 0, column: 0, code: ChakratorCode.CompilerFailure, severity: "error", message }] };
}
