/**
 * The parent's handle on one sandbox host process: spawns `host.ts` with an IPC
 * channel ('advanced' serialization), waits for its `ready`, forwards messages and
 * reports its exit exactly once. It knows nothing of revisions or calls; supervision
 * (restart, backoff, failing calls) is `sandbox.ts`'s.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { HostMessage, HostRequest } from "./protocol.ts";

const HOST_PATH = fileURLToPath(new URL("./host.ts", import.meta.url));

export interface HostHandlers {
  onMessage(message: HostMessage): void;
  onExit(code: number | null, signal: string | null): void;
}

export class HostProcess {
  /** Resolves when the host has said `ready`; rejects if it exits first or takes longer than the start timeout. */
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private exitedFlag = false;
  private readonly exitedPromise: Promise<void>;

  /** Spawns the host at once; messages and the exit go to `handlers` (never synchronously). */
  constructor(handlers: HostHandlers, startTimeoutMs = 15_000) {
    this.child = fork(HOST_PATH, [], {
      // isolated-vm needs --no-node-snapshot on Node >= 20. The host prints nothing on
      // stdout; stderr is kept so a fatal V8 message lands in the operator's logs.
      execArgv: ["--no-node-snapshot", "--disable-warning=ExperimentalWarning"],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    let markReady: () => void = () => {};
    let failReady: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => {});
    const timer = setTimeout(() => {
      failReady(new Error(`the sandbox host did not start within ${startTimeoutMs} ms`));
      this.kill();
    }, startTimeoutMs);
    this.exitedPromise = new Promise<void>((resolve) => {
      const exited = (code: number | null, signal: string | null) => {
        if (this.exitedFlag) return;
        this.exitedFlag = true;
        clearTimeout(timer);
        failReady(new Error(`the sandbox host exited before it was ready (code ${code}, signal ${signal})`));
        resolve();
        handlers.onExit(code, signal);
      };
      this.child.once("exit", exited);
      this.child.on("error", (error) => {
        failReady(error);
        if (this.child.pid === undefined) exited(null, null);
        else this.kill();
      });
    });
    this.child.on("message", (message: HostMessage) => {
      if (message.t === "ready") {
        clearTimeout(timer);
        markReady();
      } else {
        handlers.onMessage(message);
      }
    });
  }

  /** The process id, also after it exited (for reports). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.exitedFlag;
  }

  /** Sends a request; false when the channel is closed (the exit handler will follow). */
  send(request: HostRequest): boolean {
    if (this.exitedFlag || !this.child.connected) return false;
    try {
      // A failed write means the host is dying; the exit handler reports it.
      return this.child.send(request, (error) => void error);
    } catch {
      return false;
    }
  }

  /** Kills the host with SIGKILL: for a host that stopped answering. */
  kill(): void {
    if (!this.exitedFlag) this.child.kill("SIGKILL");
  }

  /** Closes the channel (the host exits on its own), then kills it after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exitedFlag) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }
}
