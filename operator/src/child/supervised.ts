/**
 * `SupervisedChild`: the parent's handle on one child process that speaks over an IPC
 * channel ('advanced' serialization). Shared by the sandbox hosts and the compiler, so
 * that fork, ready, heartbeat, memory watch, exit reporting and the reaper live once.
 *
 * Guarantees:
 * - `ready` resolves when the child says `{ t: "ready" }`; it rejects when the child
 *   exits first or is not ready within `startTimeoutMs` (the child is then killed).
 * - `onExit` is called exactly once, asynchronously, with why the child ended: its own
 *   exit, or the reason the supervisor killed it (`hung`, `memory`, `killed`).
 * - Heartbeat (optional): a `ping` every `intervalMs`; the child's main thread answers
 *   (child/guard.ts) even while a call runs, since isolates and type-checks do not hold
 *   the main thread for long. No answer for `timeoutMs` means the main thread itself
 *   is stuck: the child is killed with reason `hung`. A busy call is not a hang. The
 *   heartbeat starts counting at `ready`; a slow start is `startTimeoutMs`'s to judge.
 *   Nor is a child starved of CPU (a niced child on a busy node): past `timeoutMs`, a
 *   main thread that is runnable (/proc state R) but has not used `timeoutMs` of CPU
 *   since its last answer is waiting for a CPU, not stuck. Stuck is: that much CPU
 *   without an answer (a loop), or not runnable at all (blocked, stopped).
 * - Memory watch (optional): the child's RSS is read from /proc every `intervalMs`;
 *   above `maxRssBytes()` the child is killed with reason `memory`.
 * - The child is registered with the reaper (child/reaper.ts), so it never outlives
 *   this process, even after a SIGKILL.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";
import { reapOnExit } from "./reaper.ts";

/** Why a supervised child ended. */
export type ExitReason =
  | { kind: "exited"; code: number | null; signal: string | null }
  /** No heartbeat answer for `waitedMs`. */
  | { kind: "hung"; waitedMs: number }
  /** RSS above the cap. */
  | { kind: "memory"; rssBytes: number; capBytes: number }
  /** `kill()` was called. */
  | { kind: "killed" };

export interface SupervisedChildOptions<Message> {
  /** Absolute path of the child's module. */
  modulePath: string;
  execArgv?: string[];
  /** Default 15 s. */
  startTimeoutMs?: number;
  heartbeat?: { intervalMs: number; timeoutMs: number };
  memory?: { intervalMs: number; maxRssBytes: () => number };
  /** Let this process exit while the child runs (the compiler idles between edits). */
  unref?: boolean;
  /**
   * Scheduling niceness for every thread of the child (0 = as this process; higher =
   * yields the CPU to it). Raising niceness needs no privilege.
   */
  nice?: number;
  onMessage(message: Message): void;
  onExit(reason: ExitReason): void;
}

const PAGE_SIZE = 4096;

/** Resident set size of `pid` in bytes, from /proc (undefined when it cannot be read). */
export function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ");
    const pages = Number(fields[1]);
    return Number.isFinite(pages) ? pages * PAGE_SIZE : undefined;
  } catch {
    return undefined;
  }
}

const TICK_MS = 10;

/**
 * A process's or thread's scheduler state (R runnable, S sleeping, T stopped, ...) and
 * CPU time (user + system, ms), from a `/proc/.../stat` file; undefined if unreadable.
 */
export function procStat(path: string): { state: string; cpuMs: number } | undefined {
  try {
    const stat = readFileSync(path, "utf8");
    // After the command name, which may hold spaces and parentheses: state is field 3, utime and stime 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    return fields[0] !== undefined && Number.isFinite(cpuMs) ? { state: fields[0], cpuMs } : undefined;
  } catch {
    return undefined;
  }
}

/** The main thread of `pid` (its thread id is the pid), as `procStat` reads it. */
function mainThread(pid: number | undefined): { state: string; cpuMs: number } | undefined {
  return pid === undefined ? undefined : procStat(`/proc/${pid}/task/${pid}/stat`);
}

/** Sets the niceness of every thread of `pid` (Linux: niceness is per thread). Best effort. */
function renice(pid: number | undefined, nice: number): void {
  if (pid === undefined) return;
  let tids: string[] = [String(pid)];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    // No /proc: the main thread only.
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      // The thread ended meanwhile, or the platform refuses.
    }
  }
}

export class SupervisedChild<Request extends object, Message extends { t: string }> {
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private readonly options: SupervisedChildOptions<Message>;
  private exitedFlag = false;
  private killReason: ExitReason | undefined;
  private readonly exitedPromise: Promise<void>;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastPong = Date.now();
  /** The main thread's CPU time (ms) at the last pong. */
  private cpuAtPong: number | undefined;
  private isReady = false;
  private pingSeq = 0;

  constructor(options: SupervisedChildOptions<Message>) {
    this.options = options;
    const startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.child = fork(options.modulePath, [], {
      execArgv: options.execArgv ?? [],
      serialization: "advanced",
      // Children print nothing on stdout; stderr is kept so a fatal V8 message reaches the operator's logs.
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const unreap = reapOnExit(this.child.pid);
    const nice = options.nice ?? 0;
    if (nice > 0) renice(this.child.pid, nice);
    if (options.unref === true) {
      this.child.unref();
      (this.child as unknown as { channel?: { unref(): void } }).channel?.unref();
    }
    let markReady: () => void = () => {};
    let failReady: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => {});
    const startTimer = setTimeout(() => {
      failReady(new Error(`the child process did not start within ${startTimeoutMs} ms`));
      this.kill();
    }, startTimeoutMs);
    this.exitedPromise = new Promise<void>((resolve) => {
      const exited = (code: number | null, signal: string | null) => {
        if (this.exitedFlag) return;
        this.exitedFlag = true;
        unreap();
        clearTimeout(startTimer);
        for (const timer of this.timers) clearInterval(timer);
        failReady(new Error(`the child process exited before it was ready (code ${code}, signal ${signal})`));
        resolve();
        options.onExit(this.killReason ?? { kind: "exited", code, signal });
      };
      this.child.once("exit", exited);
      this.child.on("error", (error) => {
        failReady(error);
        if (this.child.pid === undefined) exited(null, null);
        else this.kill();
      });
    });
    this.child.on("message", (message: Message) => {
      if (message.t === "pong") {
        this.answered();
      } else if (message.t === "ready") {
        clearTimeout(startTimer);
        // Again now: threads started while the child booted have the parent's niceness.
        if (nice > 0) renice(this.child.pid, nice);
        this.answered();
        this.isReady = true;
        markReady();
      } else {
        options.onMessage(message);
      }
    });
    if (options.heartbeat !== undefined) this.watchHeartbeat(options.heartbeat);
    if (options.memory !== undefined) this.watchMemory(options.memory);
  }

  /** The process id, also after it exited (for reports). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.exitedFlag;
  }

  /** Sets the niceness of every thread of the child (raising it needs no privilege; lowering may be refused). */
  renice(nice: number): void {
    if (!this.exitedFlag) renice(this.child.pid, nice);
  }

  /** Resident set size now, from /proc. */
  rssBytes(): number | undefined {
    return this.exitedFlag ? undefined : rssOf(this.child.pid);
  }

  /** Sends a message; false when the channel is closed (the exit handler will follow). */
  send(message: Request): boolean {
    if (this.exitedFlag || !this.child.connected) return false;
    try {
      // A failed write means the child is dying; the exit handler reports it.
      return this.child.send(message, (error) => void error);
    } catch {
      return false;
    }
  }

  /** SIGKILLs the child; `onExit` gets `reason` (default `killed`) unless it had exited already. */
  kill(reason: ExitReason = { kind: "killed" }): void {
    if (this.exitedFlag) return;
    this.killReason ??= reason;
    this.child.kill("SIGKILL");
  }

  /** Closes the channel (the child exits on its own), then kills it after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exitedFlag) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }

  private watchHeartbeat({ intervalMs, timeoutMs }: { intervalMs: number; timeoutMs: number }): void {
    const timer = setInterval(() => {
      // A child still booting (a loaded node, a niced child) is the start timeout's to judge, not the heartbeat's.
      if (!this.isReady) return;
      const waitedMs = Date.now() - this.lastPong;
      if (waitedMs > timeoutMs && !this.starved(timeoutMs)) {
        this.kill({ kind: "hung", waitedMs });
        return;
      }
      this.send({ t: "ping", n: ++this.pingSeq } as unknown as Request);
    }, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** The child answered (a pong, or ready): when, and its main thread's CPU time then. */
  private answered(): void {
    this.lastPong = Date.now();
    this.cpuAtPong = mainThread(this.child.pid)?.cpuMs;
  }

  /** Runnable, and less than `cpuMs` of CPU used since the last answer: waiting for a CPU. */
  private starved(cpuMs: number): boolean {
    const now = mainThread(this.child.pid);
    return now !== undefined && this.cpuAtPong !== undefined && now.state === "R" && now.cpuMs - this.cpuAtPong < cpuMs;
  }

  private watchMemory({ intervalMs, maxRssBytes }: { intervalMs: number; maxRssBytes: () => number }): void {
    const timer = setInterval(() => {
      const rss = this.rssBytes();
      const cap = maxRssBytes();
      if (rss !== undefined && rss > cap) this.kill({ kind: "memory", rssBytes: rss, capBytes: cap });
    }, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }
}
