/**
 * The WebSocket log stream (`/api/logs`) as a ReactiveController: it opens when the
 * host asks (`start()`, once signed in) and closes with the host. A lost connection is
 * retried with exponential backoff and jitter (0.5 s doubling to 30 s, reset once the
 * server says hello), so a restarting operator is picked up without a page reload.
 * Messages are handed to the callbacks as they arrive; batching for rendering is the
 * log panel's business. The host re-renders when `state` changes.
 *
 * A refused upgrade (401/403 before the handshake) looks to the browser like any lost
 * connection (close code 1006). So when a socket closes without ever saying hello, the
 * host's `onRefused` decides: "retry" (a real disconnect: backoff as above), "denied"
 * (signed in but not allowed: state "denied", retried only every 5 minutes in case RBAC
 * changes), or "stop" (signed out).
 */
import type { ReactiveController, ReactiveControllerHost } from "lit";
import type { LogRecord, Notice, StreamMessage } from "../protocol.ts";

/** Connection state shown in the UI. */
export type StreamState = "idle" | "connecting" | "open" | "retrying" | "denied";

/** The host's reading of a connection that closed before `hello`. */
export type RefusalVerdict = "retry" | "denied" | "stop";

/** What the stream delivers; each callback is optional. */
export interface LogStreamHandlers {
  onLog?(record: LogRecord): void;
  onDropped?(count: number): void;
  onNotice?(notice: Notice): void;
  onOpen?(replayed: number): void;
  /** A socket closed before `hello`: was it refused? Without it, every close is retried. */
  onRefused?(): Promise<RefusalVerdict>;
}

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
/** Retry interval while access is denied. */
export const DENIED_RETRY_MS = 300_000;

/** Subscribes to the log stream while started and the host is connected. */
export class LogStreamController implements ReactiveController {
  state: StreamState = "idle";
  /** When the next retry happens (ms since epoch), while `state` is "retrying". */
  retryAt = 0;
  private readonly host: ReactiveControllerHost;
  private readonly handlers: LogStreamHandlers;
  private readonly replay: number;
  private ws: WebSocket | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private wanted = false;
  private hostConnectedFlag = false;

  constructor(host: ReactiveControllerHost, handlers: LogStreamHandlers, replay = 500) {
    this.host = host;
    this.handlers = handlers;
    this.replay = replay;
    host.addController(this);
  }

  /** Opens the stream (idempotent). */
  start(): void {
    this.wanted = true;
    if (this.hostConnectedFlag && !this.ws && !this.timer) this.connect();
  }

  /** Closes the stream and cancels any retry. */
  stop(): void {
    this.wanted = false;
    this.teardown();
    this.setState("idle");
  }

  hostConnected(): void {
    this.hostConnectedFlag = true;
    if (this.wanted) this.connect();
  }

  hostDisconnected(): void {
    this.hostConnectedFlag = false;
    this.teardown();
  }

  private url(): string {
    const u = new URL(`api/logs?replay=${this.replay}`, document.baseURI);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.href;
  }

  private connect(): void {
    this.teardown();
    if (this.state !== "denied") this.setState(this.attempt === 0 ? "connecting" : "retrying");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let greeted = false;
    ws.addEventListener("message", (ev) => {
      if (this.ws !== ws) return;
      if (this.receive(ev.data)) greeted = true;
    });
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (!(this.wanted && this.hostConnectedFlag)) return;
      if (greeted || !this.handlers.onRefused) this.scheduleRetry();
      else void this.diagnose();
    });
  }

  /** Asks the host why a socket closed before `hello`, then retries, waits or stops. */
  private async diagnose(): Promise<void> {
    let verdict: RefusalVerdict = "retry";
    try {
      verdict = (await this.handlers.onRefused?.()) ?? "retry";
    } catch {
      verdict = "retry";
    }
    if (!(this.wanted && this.hostConnectedFlag) || this.ws || this.timer) return; // stopped or restarted meanwhile
    if (verdict === "stop") return this.stop();
    if (verdict === "denied") {
      this.attempt = 0;
      this.retryAt = Date.now() + DENIED_RETRY_MS;
      this.setState("denied");
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.wanted && this.hostConnectedFlag) this.connect();
      }, DENIED_RETRY_MS);
      return;
    }
    this.scheduleRetry();
  }

  /** Handles one frame; true for `hello`. */
  private receive(data: unknown): boolean {
    if (typeof data !== "string") return false;
    let msg: StreamMessage;
    try {
      msg = JSON.parse(data) as StreamMessage;
    } catch {
      return false; // not ours; a stream must survive one bad frame
    }
    switch (msg.type) {
      case "hello":
        this.attempt = 0;
        this.setState("open");
        this.handlers.onOpen?.(msg.replayed);
        break;
      case "log":
        this.handlers.onLog?.(msg.record);
        break;
      case "dropped":
        this.handlers.onDropped?.(msg.count);
        break;
      case "notice":
        this.handlers.onNotice?.(msg.notice);
        break;
    }
    return msg.type === "hello";
  }

  private scheduleRetry(): void {
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.setState("retrying");
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.wanted && this.hostConnectedFlag) this.connect();
    }, delay);
  }

  private teardown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    ws?.close();
  }

  private setState(state: StreamState): void {
    if (this.state === state) return;
    this.state = state;
    this.host.requestUpdate();
  }
}
