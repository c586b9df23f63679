/**
 * The sandbox host: a child process of the operator that owns every isolated-vm
 * isolate, so that an isolate bringing the process down (isolated-vm's README warns a
 * memory overrun can abort it) takes only this process with it. Started by
 * `sandbox.ts` through `child/supervised.ts`; exits when the channel closes, and the
 * operator's reaper kills it if it is too busy to notice, so it never outlives the operator.
 *
 * It keeps one `RevisionPool` per loaded revision and serves the parent's requests
 * (see `protocol.ts`). Bridge traffic is bounded per call: at most 1000 log records
 * (messages cut at 8 KiB, fields at 32 KiB), 100 events and 1000 cache reads; a thrown
 * error's message is cut at 8 KiB and its stack at 32 KiB. A bridge
 * request arriving after its call ended is refused; replies to it are dropped.
 */
import { guardChild } from "../child/guard.ts";
import { CALL_BUDGET } from "./budgets.ts";
import { parseBridgeArgs, parseEvent, parseFields } from "./bridge-args.ts";
import { BuildError, type IsolateSlot, type SlotHooks } from "./isolate-slot.ts";
import type { HostMessage, HostRequest, HostStats, RevisionSpec } from "./protocol.ts";
import { RevisionPool } from "./revision-pool.ts";
import type { CallMethod, LogLevel } from "./types.ts";
import { LOG_LEVELS } from "../telemetry/log.ts";

// The prelude enforces the same budgets inside the isolate; these are the backstop.
const MAX_LOGS = CALL_BUDGET.logs;
const MAX_EVENTS = CALL_BUDGET.events;
const MAX_REQUESTS = CALL_BUDGET.reads;
const MAX_MESSAGE_CHARS = CALL_BUDGET.messageChars;
const MAX_FIELDS_CHARS = CALL_BUDGET.fieldsChars;
const LEVELS: ReadonlySet<string> = new Set(LOG_LEVELS);

interface ActiveCall {
  logs: number;
  dropped: number;
  events: number;
  requests: number;
  slot: IsolateSlot | undefined;
  cancelled: boolean;
  waiting: Set<number>;
}

const pools = new Map<string, RevisionPool>();
const loading = new Map<string, Promise<RevisionPool>>();
const calls = new Map<number, ActiveCall>();
const bridgeWaits = new Map<number, (reply: string) => void>();
let nextRequestId = 1;

function send(message: HostMessage): void {
  // A closed channel means the parent is gone; the disconnect handler exits.
  if (process.connected) process.send?.(message, undefined, {}, (error) => void error);
}

const hooks: SlotHooks = {
  request(callId, op, argsJson) {
    const call = calls.get(callId);
    if (call === undefined) return Promise.resolve(`Ectx.${op}: the call has ended; ctx is only usable while its call runs`);
    if (++call.requests > MAX_REQUESTS) return Promise.resolve(`Ectx.${op}: more than ${MAX_REQUESTS} cache reads in one call`);
    const parsed = parseBridgeArgs(op, argsJson);
    if (!parsed.ok) return Promise.resolve(`E${parsed.message}`);
    const reqId = nextRequestId++;
    return new Promise<string>((resolve) => {
      call.waiting.add(reqId);
      bridgeWaits.set(reqId, (reply) => {
        call.waiting.delete(reqId);
        resolve(reply);
      });
      send({ t: "bridge", callId, reqId, request: parsed.value });
    });
  },
  log(callId, level, message, fieldsJson) {
    const call = calls.get(callId);
    if (call === undefined) return;
    if (++call.logs > MAX_LOGS) {
      call.dropped++;
      return;
    }
    const fields =
      fieldsJson.length > MAX_FIELDS_CHARS ? { fieldsError: `log fields over ${MAX_FIELDS_CHARS} characters were dropped` } : parseFields(fieldsJson);
    send({
      t: "log",
      callId,
      level: (LEVELS.has(level) ? level : "info") as LogLevel,
      message: cut(message, MAX_MESSAGE_CHARS),
      ...(fields !== undefined ? { fields } : {}),
    });
  },
  dropped(callId, count) {
    const call = calls.get(callId);
    if (call !== undefined && Number.isSafeInteger(count) && count > 0) call.dropped += count;
  },
  event(callId, json) {
    const call = calls.get(callId);
    if (call === undefined) return;
    const parsed = json.length > MAX_MESSAGE_CHARS ? { ok: false as const, message: "ctx.event: the event is too large" } : parseEvent(json);
    if (!parsed.ok) {
      hooks.log(callId, "warn", `${parsed.message}; the event was not recorded`, "");
    } else if (++call.events > MAX_EVENTS) {
      call.dropped++;
    } else {
      send({ t: "event", callId, event: parsed.value });
    }
  },
};

async function load(id: number, spec: RevisionSpec): Promise<void> {
  let pending = loading.get(spec.id);
  if (pending === undefined) {
    const existing = pools.get(spec.id);
    pending = existing !== undefined ? Promise.resolve(existing) : RevisionPool.create(spec, hooks);
    loading.set(spec.id, pending);
    pending.then(() => loading.delete(spec.id), () => loading.delete(spec.id));
  }
  try {
    const pool = await pending;
    pools.set(spec.id, pool);
    send({ t: "loaded", id, meta: pool.meta });
  } catch (error: unknown) {
    const message = error instanceof BuildError ? error.message : `loading failed: ${String(error)}`;
    send({ t: "load-failed", id, message });
  }
}

async function call(id: number, revisionId: string, method: CallMethod, resourceJson: string): Promise<void> {
  const pool = pools.get(revisionId);
  if (pool === undefined) {
    send({ t: "failed", id, kind: "internal", message: `revision ${revisionId} is not loaded in the sandbox host` });
    return;
  }
  const active: ActiveCall = { logs: 0, dropped: 0, events: 0, requests: 0, slot: undefined, cancelled: false, waiting: new Set() };
  calls.set(id, active);
  try {
    let slot: IsolateSlot;
    try {
      slot = await pool.acquire();
    } catch (error: unknown) {
      send({ t: "failed", id, kind: "load", message: error instanceof Error ? error.message : String(error) });
      return;
    }
    if (active.cancelled) {
      pool.release(slot);
      send({ t: "failed", id, kind: "aborted", message: "the call was aborted" });
      return;
    }
    active.slot = slot;
    const outcome = await slot.run(method, resourceJson, id);
    pool.release(slot);
    if (active.dropped > 0) send({ t: "log-dropped", callId: id, count: active.dropped });
    if (outcome.kind === "ok") send({ t: "result", id, value: outcome.value });
    else if (outcome.kind === "user") {
      send({ t: "failed", id, kind: "user", name: cut(outcome.name, 200), message: cut(outcome.message, MAX_MESSAGE_CHARS), stack: cut(outcome.stack, 4 * MAX_MESSAGE_CHARS) });
    }
    else send({ t: "failed", id, kind: outcome.kind, message: outcome.message });
  } finally {
    calls.delete(id);
    // Unblock user code still awaiting a cache read (its promise settles inside the isolate).
    for (const reqId of active.waiting) bridgeWaits.get(reqId)?.("Ethe call has ended");
    for (const reqId of active.waiting) bridgeWaits.delete(reqId);
  }
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function stats(): HostStats {
  const isolates: HostStats["isolates"] = {};
  for (const [revisionId, pool] of pools) isolates[revisionId] = pool.heapStatistics();
  return { pid: process.pid, rssBytes: process.memoryUsage.rss(), isolates };
}

function handle(request: HostRequest): void {
  switch (request.t) {
    case "load":
      void load(request.id, request.revision);
      return;
    case "call":
      void call(request.id, request.revisionId, request.method, request.resourceJson);
      return;
    case "cancel": {
      const active = calls.get(request.id);
      if (active === undefined) return;
      active.cancelled = true;
      active.slot?.dispose("aborted");
      return;
    }
    case "unload":
      pools.get(request.revisionId)?.close();
      pools.delete(request.revisionId);
      return;
    case "bridge-reply": {
      const resolve = bridgeWaits.get(request.reqId);
      bridgeWaits.delete(request.reqId);
      resolve?.(request.reply);
      return;
    }
    case "stats":
      send({ t: "stats", id: request.id, stats: stats() });
      return;
  }
}

// Heartbeat answers, exit on disconnect, `ready`: the supervisor's side (child/guard.ts).
guardChild<HostRequest>(handle);
