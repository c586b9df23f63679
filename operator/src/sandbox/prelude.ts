/**
 * The prelude: JavaScript that runs first in every isolate's context, before any user
 * module, as a closure (`evalClosure`) whose arguments are the host's raw handles.
 *
 * Guarantees:
 * - The isolated-vm handles (`$0` bridge Reference, `$1`/`$2` callbacks) live only in
 *   this closure: nothing is put on `globalThis`, so user code cannot reach a Reference
 *   or the isolated-vm API. The `ctx` user code gets is a frozen object of plain
 *   functions defined here.
 * - Non-ECMAScript globals that isolated-vm adds or that could escape the limits are
 *   deleted: `console` (logging is `ctx.log`), `WebAssembly`, `SharedArrayBuffer`,
 *   `Atomics`. `eval`/`Function` stay: they can only build code inside this isolate.
 * - `JSON.parse`/`JSON.stringify`/`Date.now` are captured before user code runs, so a
 *   reconciler that replaces them only confuses itself. The host trusts nothing the
 *   isolate answers anyway: it gets one string per call and checks it again.
 *
 * The kernel returned to the host (as a Reference) has two operations:
 * - `install(namespace)`: checks the entry module's default export and returns the
 *   metadata as JSON, or throws an Error saying what is wrong.
 * - `call(method, resourceJson, callId)`: resolves (never rejects) to an envelope:
 *   `"R" + json` result, `"U" + json {name,message,stack}` user error, `"I" + message`
 *   result not serializable (function, symbol, BigInt, undefined in an array, non-finite
 *   number, cycle, or over `$3` characters).
 */
export const PRELUDE_FILENAME = "chakrator:prelude";

export const PRELUDE_SOURCE = String.raw`"use strict";
const bridgeRef = $0, logCallback = $1, eventCallback = $2, maxResultChars = $3, droppedCallback = $5;
const budget = JSON.parse($4);
for (const name of ["console", "WebAssembly", "SharedArrayBuffer", "Atomics"]) delete globalThis[name];
const parse = JSON.parse, stringify = JSON.stringify, now = Date.now, isArray = Array.isArray;
const freeze = Object.freeze, isFinite = Number.isFinite, apply = Reflect.apply;
const ErrorClass = Error, StringOf = String, MapClass = Map;
const BRIDGE_OPTIONS = { __proto__: null, result: { __proto__: null, promise: true, copy: true } };
let reconciler;

class ResultError extends ErrorClass {}

function describeKind(value, what) {
  if (value === null || typeof value !== "object") throw new ErrorClass(what + " must be an object { apiVersion, kind }");
  const apiVersion = value.apiVersion, kind = value.kind;
  if (typeof apiVersion !== "string" || apiVersion === "" || typeof kind !== "string" || kind === "")
    throw new ErrorClass(what + " must have non-empty string apiVersion and kind");
  return { apiVersion, kind };
}

function install(namespace) {
  const exported = namespace.default;
  if (exported === undefined) throw new ErrorClass("the entry module has no default export; export default { for, reconcile }");
  if (exported === null || typeof exported !== "object") throw new ErrorClass("the default export must be an object, got " + (exported === null ? "null" : typeof exported));
  const forKind = describeKind(exported.for, "default export 'for'");
  const owns = [];
  if (exported.owns !== undefined) {
    if (!isArray(exported.owns)) throw new ErrorClass("default export 'owns' must be an array of { apiVersion, kind }");
    for (let i = 0; i < exported.owns.length; i++) owns.push(describeKind(exported.owns[i], "default export 'owns[" + i + "]'"));
  }
  if (typeof exported.reconcile !== "function") throw new ErrorClass("default export 'reconcile' must be a function");
  if (exported.finalize !== undefined && typeof exported.finalize !== "function") throw new ErrorClass("default export 'finalize' must be a function when present");
  for (const name of ["validate", "mutate"]) if (exported[name] !== undefined && typeof exported[name] !== "function") throw new ErrorClass("default export '" + name + "' must be a function when present");
  reconciler = exported;
  return stringify({ for: forKind, owns, hasFinalize: exported.finalize !== undefined, hasValidate: exported.validate !== undefined, hasMutate: exported.mutate !== undefined });
}

async function request(callId, op, args) {
  const reply = await bridgeRef.apply(undefined, [callId, op, stringify(args)], BRIDGE_OPTIONS);
  if (typeof reply !== "string" || reply === "") throw new ErrorClass("ctx." + op + " failed: no answer from the operator");
  if (reply[0] === "R") return reply.length === 1 ? undefined : parse(reply.slice(1));
  throw new ErrorClass(reply.slice(1));
}

function fieldsJson(fields) {
  if (fields === undefined) return "";
  try { return stringify(fields) ?? ""; } catch (e) { return stringify({ fieldsError: "log fields are not JSON: " + StringOf(e && e.message) }); }
}

function cut(text, max) {
  return text.length > max ? text.slice(0, max) + "\u2026" : text;
}

// Budgets are counted and cut here, inside the isolate, before anything crosses: past
// its budget a bridge call is a no-op (counted as dropped) or a rejection, so a tight
// loop of ctx calls costs the host nothing. The host counts again, as a backstop.
function makeContext(callId, counts) {
  const logAt = (level) => (message, fields) => {
    if (++counts.logs > budget.logs) { counts.dropped++; return; }
    let json = fieldsJson(fields);
    if (json.length > budget.fieldsChars) json = stringify({ fieldsError: "log fields over " + budget.fieldsChars + " characters were dropped" });
    logCallback(callId, level, cut(StringOf(message), budget.messageChars), json);
  };
  const read = (op, args) => {
    if (++counts.reads > budget.reads) return Promise.reject(new ErrorClass("ctx." + op + ": more than " + budget.reads + " cache reads in one call"));
    return request(callId, op, args);
  };
  return freeze({
    log: freeze({ debug: logAt("debug"), info: logAt("info"), warn: logAt("warn"), error: logAt("error") }),
    get: (kind, name, namespace) => read("get", [kind, name, namespace]),
    list: (kind, options) => read("list", [kind, options]),
    event: (event) => {
      if (++counts.events > budget.events) { counts.dropped++; return; }
      let json;
      try { json = stringify(event); } catch (e) { throw new ErrorClass("ctx.event: event is not JSON: " + StringOf(e && e.message)); }
      if (json !== undefined && json.length > budget.messageChars) {
        logAt("warn")("ctx.event: the event is over " + budget.messageChars + " characters as JSON; the event was not recorded");
        return;
      }
      eventCallback(callId, json ?? "");
    },
    now: () => now(),
  });
}

function pathOf(parents, holder, key) {
  const parts = [];
  for (;;) {
    parts.push(isArray(holder) ? "[" + key + "]" : "." + key);
    const up = parents.get(holder);
    if (up === undefined) break;
    holder = up.holder; key = up.key;
  }
  return "result" + parts.reverse().join("");
}

function serialize(value) {
  const parents = new MapClass();
  let root = true;
  const json = stringify(value, function (key, item) {
    if (root) { root = false; if (item !== null && typeof item === "object") parents.set(item, undefined); return item; }
    const type = typeof item;
    if (type === "function" || type === "symbol" || type === "bigint")
      throw new ResultError(pathOf(parents, this, key) + " is a " + type + ", which is not JSON");
    if (item === undefined && isArray(this)) throw new ResultError(pathOf(parents, this, key) + " is undefined inside an array, which is not JSON");
    if (type === "number" && !isFinite(item)) throw new ResultError(pathOf(parents, this, key) + " is " + item + ", which is not JSON");
    if (item !== null && type === "object" && !parents.has(item)) parents.set(item, { holder: this, key });
    return item;
  });
  if (json === undefined) throw new ResultError("the result is " + typeof value + "; return an object");
  if (json.length > maxResultChars) throw new ResultError("the result is " + json.length + " characters as JSON, over the limit of " + maxResultChars);
  return json;
}

function describeError(error) {
  try {
    if (error instanceof ErrorClass) {
      return stringify({ name: cut(StringOf(error.name), 200), message: cut(StringOf(error.message), budget.messageChars), stack: typeof error.stack === "string" ? cut(error.stack, budget.stackChars) : "" });
    }
    let text;
    try { text = stringify(error); } catch { text = undefined; }
    return stringify({ name: "Error", message: cut("a non-Error value was thrown: " + (text ?? StringOf(error)), budget.messageChars), stack: "" });
  } catch {
    return stringify({ name: "Error", message: "a value was thrown that cannot be described", stack: "" });
  }
}

async function call(method, resourceJson, callId) {
  const counts = { logs: 0, events: 0, reads: 0, dropped: 0 };
  try {
    return await callWith(counts, method, resourceJson, callId);
  } finally {
    if (counts.dropped > 0) droppedCallback(callId, counts.dropped);
  }
}

async function callWith(counts, method, resourceJson, callId) {
  let value;
  try {
    const input = parse(resourceJson);
    // Admission calls get { object, request } and pass (object, ctx, request).
    const args = method === "validate" || method === "mutate" ? [input.object, makeContext(callId, counts), input.request] : [input, makeContext(callId, counts)];
    value = await apply(reconciler[method], reconciler, args);
  } catch (error) {
    return "U" + describeError(error);
  }
  try {
    return "R" + serialize(value);
  } catch (error) {
    return "I" + (error instanceof ResultError ? error.message : "the result cannot be serialized: " + StringOf(error && error.message));
  }
}

return function kernel(op, a, b, c) {
  if (op === "install") return install(a);
  if (op === "call") return call(a, b, c);
  throw new ErrorClass("unknown kernel operation");
};
`;
