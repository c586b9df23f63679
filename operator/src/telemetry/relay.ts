/**
 * Log relay between replicas: with leader election only the leader reconciles, so only
 * it produces reconcile logs, yet a person's editor may be served by any replica. Each
 * follower therefore subscribes to the leader's own log stream (`/api/logs`, the same
 * WebSocket the editor uses) and ingests the records that belong to a resource into its
 * LogBus, so its editors see them as if local.
 *
 * The leader announces its editor address in its Lease (annotation
 * `chakrator.dev/editor-url`, from `CHAKRATOR_ADVERTISE_URL`, e.g. the pod IP). Anyone
 * who may write that Lease chooses the address, so the relay trusts neither the
 * address nor what comes back from it:
 *
 * - Before connecting, `refusal(url)` must pass: the address is one of the operator's
 *   own pods (kube/peers.ts). A refused address is never contacted; it is retried with
 *   backoff (a new pod may not be in the EndpointSlices yet).
 * - The follower never sends its ServiceAccount token. It sends `token()`, an
 *   audience-bound token the API server refuses for itself (kube/tokens.ts), or nothing.
 * - Every relayed record is validated before it is ingested: a JSON object with the
 *   record's fields and types (ISO time, a known level, a string message, a
 *   `namespace/name` reconciler, a resource, an integer revision, a known source, an
 *   object of fields), else it is refused and counted. Records are capped like the
 *   sandbox caps `ctx.log`: the message at 8 KiB characters (cut, with a marker),
 *   fields at 32 KiB of JSON or 8 levels deep (replaced by `fieldsError`), frames at
 *   256 KiB, and at most `perSecond` records a second (burst `burst`); the excess is
 *   dropped and counted, and one warning a minute says how many.
 *
 * When the leader changes, the relay reconnects to the new one; when this replica
 * becomes leader, it stops. Failures are retried with backoff and never affect the
 * operator.
 */
import WebSocket from "ws";
import { LOG_LEVELS, type LogBus, type LogRecord } from "./log.ts";

/** Caps on relayed records; the defaults match what the sandbox allows `ctx.log`. */
export interface RelayLimits {
  /** Characters of a message kept (the rest is cut with a marker). Default 8192. */
  messageChars: number;
  /** Characters of the fields' JSON; above, the fields are replaced. Default 32768. */
  fieldsChars: number;
  /** Records taken in per second, on average. Default 1000. */
  perSecond: number;
  /** Records taken in at once after a quiet spell. Default 2000. */
  burst: number;
  /** Clock for the rate limit (tests). Default `Date.now`. */
  now: () => number;
}

export interface RelayOptions {
  bus: LogBus;
  /** Why `url` must not be followed (not an operator pod), or undefined when it may. May reject: retried later. */
  refusal: (url: string) => Promise<string | undefined>;
  /** An audience-bound token for the leader, or undefined for none. Never the operator's own credentials. */
  token?: () => Promise<string | undefined>;
  /** Told about trouble once per leader address and kind (refused address, token failure, refused upgrade). */
  onProblem?: (message: string) => void;
  limits?: Partial<RelayLimits>;
}

const MAX_FRAME_BYTES = 256 * 1024;
const MAX_DEPTH = 8;
const RECONCILER = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

function depthOf(value: unknown, depth = 0): number {
  if (typeof value !== "object" || value === null || depth > MAX_DEPTH) return depth;
  let max = depth;
  for (const v of Object.values(value)) max = Math.max(max, depthOf(v, depth + 1));
  return max;
}

/**
 * The record to ingest for `raw` (one parsed `{type:"log", record}` message's record),
 * capped by `limits`, or undefined when it is not a well-formed reconcile record.
 */
export function relayedRecord(raw: unknown, limits: Pick<RelayLimits, "messageChars" | "fieldsChars">): LogRecord | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const { time, level, message, reconciler, revision, resource, source, fields } = r;
  if (typeof time !== "string" || time.length > 40 || !Number.isFinite(Date.parse(time))) return undefined;
  if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) return undefined;
  if (typeof message !== "string") return undefined;
  // Only the leader's reconcile records: source and server records are made by every replica itself.
  if (typeof resource !== "string" || resource === "" || resource.length > 600) return undefined;
  if (reconciler !== undefined && (typeof reconciler !== "string" || reconciler.length > 317 || !RECONCILER.test(reconciler))) return undefined;
  if (revision !== undefined && (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 0)) return undefined;
  if (source !== undefined && source !== "operator" && source !== "user") return undefined;
  if (fields !== undefined && (typeof fields !== "object" || fields === null || Array.isArray(fields))) return undefined;
  const record: LogRecord = {
    seq: 0,
    time,
    level: level as LogRecord["level"],
    message: message.length <= limits.messageChars ? message : `${message.slice(0, limits.messageChars)}…[${message.length - limits.messageChars} more chars]`,
    resource,
  };
  if (reconciler !== undefined) record.reconciler = reconciler;
  if (revision !== undefined) record.revision = revision;
  if (source !== undefined) record.source = source;
  if (fields !== undefined) {
    const json = JSON.stringify(fields);
    if (json.length > limits.fieldsChars) record.fields = { fieldsError: `log fields over ${limits.fieldsChars} characters were dropped` };
    else if (depthOf(fields) > MAX_DEPTH) record.fields = { fieldsError: `log fields deeper than ${MAX_DEPTH} levels were dropped` };
    else if (json !== "{}") record.fields = JSON.parse(json) as Record<string, unknown>;
  }
  return record;
}

/** Follows the current leader's log stream; `follow(url)` switches, `follow(undefined)` stops. */
export class LogRelay {
  readonly #o: RelayOptions;
  readonly #limits: RelayLimits;
  #url: string | undefined;
  #ws: WebSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #generation = 0;
  #told = new Set<string>();
  #tokens: number;
  #refilled: number;
  #droppedSinceWarning = 0;
  #warnedAt = 0;
  /** Records taken in. */
  relayed = 0;
  /** Records refused as malformed. */
  refused = 0;
  /** Records dropped over the rate limit. */
  dropped = 0;

  constructor(options: RelayOptions) {
    this.#o = options;
    this.#limits = { messageChars: 8192, fieldsChars: 32_768, perSecond: 1000, burst: 2000, now: Date.now, ...options.limits };
    this.#tokens = this.#limits.burst;
    this.#refilled = this.#limits.now();
  }

  /** Streams from the editor at `url` (the leader), or stops with undefined. Idempotent. */
  follow(url: string | undefined): void {
    if (url === this.#url) return;
    this.#url = url;
    this.#attempt = 0;
    this.#told.clear();
    this.#close();
    if (url) void this.#connect();
  }

  stop(): void {
    this.#url = undefined;
    this.#close();
  }

  #close(): void {
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ws?.removeAllListeners();
    this.#ws?.on("error", () => {});
    this.#ws?.terminate();
    this.#ws = undefined;
  }

  #problem(kind: string, message: string): void {
    if (this.#told.has(kind)) return;
    this.#told.add(kind);
    this.#o.onProblem?.(message);
  }

  #retryLater(generation: number): void {
    if (generation !== this.#generation || !this.#url) return;
    this.#ws = undefined;
    const delay = Math.min(30_000, 500 * 2 ** this.#attempt++);
    this.#timer = setTimeout(() => void this.#connect(), delay);
    this.#timer.unref();
  }

  async #connect(): Promise<void> {
    const url = this.#url;
    if (!url) return;
    const generation = this.#generation;
    let refusal: string | undefined;
    try {
      refusal = await this.#o.refusal(url);
    } catch (err: unknown) {
      refusal = `could not check the address (${err instanceof Error ? err.message : String(err)})`;
    }
    if (generation !== this.#generation) return;
    if (refusal !== undefined) {
      this.#problem("address", `not relaying the leader's logs from ${url}: ${refusal}`);
      return this.#retryLater(generation);
    }
    let token: string | undefined;
    try {
      token = await this.#o.token?.();
    } catch (err: unknown) {
      this.#problem("token", `relay: no audience-bound token for the leader (${err instanceof Error ? err.message : String(err)}); connecting without one`);
    }
    if (generation !== this.#generation) return;
    const target = new URL("/api/logs?replay=0", url);
    target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(target, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      handshakeTimeout: 5_000,
      maxPayload: MAX_FRAME_BYTES,
      followRedirects: false,
    });
    this.#ws = ws;
    ws.on("open", () => { this.#attempt = 0; });
    ws.on("unexpected-response", (_req, res) => {
      this.#problem(`http-${res.statusCode}`, `relay: the leader at ${url} refused the log stream (HTTP ${res.statusCode})`);
      res.resume();
      ws.terminate();
    });
    ws.on("message", (data) => this.#take(String(data)));
    ws.on("close", () => this.#retryLater(generation));
    ws.on("error", () => ws.terminate());
  }

  #take(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.refused++;
      return;
    }
    if (typeof msg !== "object" || msg === null || (msg as { type?: unknown }).type !== "log") return;
    const record = relayedRecord((msg as { record?: unknown }).record, this.#limits);
    if (!record) {
      // Operator-wide records (no resource) are expected and not counted; anything else is malformed.
      const raw = (msg as { record?: { resource?: unknown } }).record;
      if (!(typeof raw === "object" && raw !== null && raw.resource === undefined)) this.refused++;
      return;
    }
    if (!this.#admit()) return;
    this.relayed++;
    this.#o.bus.ingest(record);
  }

  /** Token bucket: true when one more record may be taken in now. */
  #admit(): boolean {
    const now = this.#limits.now();
    this.#tokens = Math.min(this.#limits.burst, this.#tokens + ((now - this.#refilled) / 1000) * this.#limits.perSecond);
    this.#refilled = now;
    if (this.#tokens >= 1) {
      this.#tokens--;
      return true;
    }
    this.dropped++;
    this.#droppedSinceWarning++;
    if (now - this.#warnedAt >= 60_000) {
      this.#warnedAt = now;
      this.#o.bus.warn(`relay: dropped ${this.#droppedSinceWarning} records from the leader over the limit of ${this.#limits.perSecond} a second`);
      this.#droppedSinceWarning = 0;
    }
    return false;
  }
}
