/**
 * Log relay between replicas: with leader election only the leader reconciles, so only
 * it produces reconcile logs, yet a person's editor may be served by any replica. Each
 * follower therefore subscribes to the leader's own log stream (`/api/logs`, the same
 * WebSocket the editor uses) and ingests the records that belong to a resource into its
 * LogBus, so its editors see them as if local.
 *
 * The leader announces its editor address in its Lease (annotation
 * `chakrator.dev/editor-url`, from `CHAKRATOR_ADVERTISE_URL`, e.g. the pod IP).
 * The follower authenticates with its ServiceAccount token when it has one (the leader
 * checks it like any user's token). When the leader changes, the relay reconnects to the
 * new one; when this replica becomes leader, it stops. Failures are retried with backoff
 * and never affect the operator.
 */
import { readFileSync, existsSync } from "node:fs";
import WebSocket from "ws";
import type { LogBus, LogRecord } from "./log.ts";

export interface RelayOptions {
  bus: LogBus;
  /** Bearer token for the leader's server, if it checks tokens. */
  token?: () => string | undefined;
}

/** Follows the current leader's log stream; `follow(url)` switches, `follow(undefined)` stops. */
export class LogRelay {
  readonly #o: RelayOptions;
  #url: string | undefined;
  #ws: WebSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** Records taken in; for tests and metrics. */
  relayed = 0;

  constructor(options: RelayOptions) {
    this.#o = options;
  }

  /** Streams from the editor at `url` (the leader), or stops with undefined. Idempotent. */
  follow(url: string | undefined): void {
    if (url === this.#url) return;
    this.#url = url;
    this.#close();
    if (url) this.#connect();
  }

  #close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ws?.removeAllListeners();
    this.#ws?.on("error", () => {});
    this.#ws?.terminate();
    this.#ws = undefined;
  }

  #connect(): void {
    const url = this.#url;
    if (!url) return;
    const target = new URL("/api/logs?replay=0", url);
    target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
    const token = this.#o.token?.();
    const ws = new WebSocket(target, { headers: token ? { authorization: `Bearer ${token}` } : {}, handshakeTimeout: 5_000 });
    this.#ws = ws;
    ws.on("open", () => { this.#attempt = 0; });
    ws.on("message", (data) => {
      try {
        const msg = JSON.parse(String(data)) as { type?: string; record?: LogRecord };
        // Only the leader's reconcile records: source and server records are made by every replica itself.
        if (msg.type === "log" && msg.record && typeof msg.record.resource === "string") {
          this.relayed++;
          this.#o.bus.ingest(msg.record);
        }
      } catch {
        // Not JSON: ignore, the stream goes on.
      }
    });
    const retry = () => {
      if (this.#ws !== ws || !this.#url) return;
      this.#ws = undefined;
      const delay = Math.min(30_000, 500 * 2 ** this.#attempt++);
      this.#timer = setTimeout(() => this.#connect(), delay);
      this.#timer.unref();
    };
    ws.on("close", retry);
    ws.on("error", () => ws.terminate());
  }

  stop(): void {
    this.#url = undefined;
    this.#close();
  }
}

/** The pod's ServiceAccount token, when running in a pod (re-read: it rotates). */
export function serviceAccountToken(): string | undefined {
  const file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}
