/** LogBus: records, context, ring buffer, filters, subscribers, bounded subscriptions, stdout lines, notices. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LogBus, parseLogLevel, type LogRecord } from "./log.ts";
import { BoundedSubscription } from "./subscription.ts";

const fixedClock = () => new Date("2025-01-02T03:04:05.678Z");

function quietBus(capacity?: number): LogBus {
  return new LogBus({ stdout: false, clock: fixedClock, ...(capacity === undefined ? {} : { capacity }) });
}

test("a record has seq, ISO time, level, message and the given context", () => {
  const bus = quietBus();
  bus.log("info", "hello", { reconciler: "ns/rec", revision: 3, resource: "Widget ns/w1", source: "operator", fields: { n: 1 } });
  bus.debug("bare");
  assert.deepEqual(bus.recent(), [
    { seq: 1, time: "2025-01-02T03:04:05.678Z", level: "info", message: "hello", reconciler: "ns/rec", revision: 3, resource: "Widget ns/w1", source: "operator", fields: { n: 1 } },
    { seq: 2, time: "2025-01-02T03:04:05.678Z", level: "debug", message: "bare" },
  ]);
});

test("child loggers stamp their context and merge fields, the call's own winning", () => {
  const bus = quietBus();
  const rec = bus.child({ reconciler: "ns/rec", revision: 2, fields: { a: 1, b: 1 } });
  const user = rec.child({ resource: "Widget ns/w1", source: "user", fields: { b: 2 } });
  user.warn("careful", { c: 3 });
  rec.log("error", "boom", { revision: 5 });
  const [first, second] = bus.recent();
  assert.deepEqual(first, {
    seq: 1, time: "2025-01-02T03:04:05.678Z", level: "warn", message: "careful",
    reconciler: "ns/rec", revision: 2, resource: "Widget ns/w1", source: "user", fields: { a: 1, b: 2, c: 3 },
  });
  assert.equal(second?.revision, 5);
  assert.equal(second?.reconciler, "ns/rec");
  assert.deepEqual(second?.fields, { a: 1, b: 1 });
});

test("the ring buffer keeps the last N records; recent filters and limits, oldest first", () => {
  const bus = quietBus(5);
  for (let i = 1; i <= 8; i++) bus.info(`line ${i}`);
  assert.deepEqual(bus.recent().map((r) => r.seq), [4, 5, 6, 7, 8]);
  assert.deepEqual(bus.recent(undefined, 2).map((r) => r.message), ["line 7", "line 8"]);
  assert.deepEqual(bus.recent(undefined, 0), []);
  assert.equal(new LogBus({ stdout: false }).recent().length, 0);
});

test("filters match reconciler exactly, resource by substring, level as a minimum, text in message or fields", () => {
  const bus = quietBus();
  bus.log("debug", "one", { reconciler: "ns/a", resource: "Widget ns/w1" });
  bus.log("warn", "two", { reconciler: "ns/a", resource: "Widget ns/w2" });
  bus.log("error", "three", { reconciler: "ns/ab", fields: { detail: "Needle in fields" } });
  bus.log("info", "A NEEDLE here", { reconciler: "ns/a" });
  const messages = (filter: Parameters<LogBus["recent"]>[0]) => bus.recent(filter).map((r) => r.message);
  assert.deepEqual(messages({ reconciler: "ns/a" }), ["one", "two", "A NEEDLE here"]);
  assert.deepEqual(messages({ resource: "ns/w" }), ["one", "two"]);
  assert.deepEqual(messages({ level: "warn" }), ["two", "three"]);
  assert.deepEqual(messages({ text: "needle" }), ["three", "A NEEDLE here"]);
  assert.deepEqual(messages({ reconciler: "ns/a", level: "info", text: "needle" }), ["A NEEDLE here"]);
});

test("subscribers get matching records until they unsubscribe; one that throws is removed and reported", () => {
  const bus = quietBus();
  const got: string[] = [];
  const unsubscribe = bus.subscribe({ level: "info" }, (record) => got.push(record.message));
  bus.subscribe(undefined, () => {
    throw new Error("broken consumer");
  });
  bus.debug("hidden");
  bus.info("shown");
  unsubscribe();
  bus.info("after");
  // The broken consumer threw on "hidden" already; its removal is itself logged.
  assert.deepEqual(got, ["log subscriber threw; unsubscribed", "shown"]);
  assert.equal(bus.subscriberCount, 0);
  const warning = bus.recent({ text: "subscriber threw" });
  assert.equal(warning.length, 1);
  assert.equal(warning[0]?.level, "warn");
});

test("a bounded subscription drops the oldest records when full and reports how many", () => {
  const bus = quietBus();
  let readable = 0;
  const sub = new BoundedSubscription(bus, { reconciler: "ns/a" }, { capacity: 3, onReadable: () => readable++ });
  for (let i = 1; i <= 5; i++) bus.log("info", `m${i}`, { reconciler: "ns/a" });
  bus.info("other reconciler's line");
  assert.equal(readable, 1, "signalled once when it became non-empty");
  assert.equal(sub.size, 3);
  const first = sub.take(2);
  assert.equal(first.dropped, 2);
  assert.deepEqual(first.records.map((r) => r.message), ["m3", "m4"]);
  const second = sub.take();
  assert.equal(second.dropped, 0);
  assert.deepEqual(second.records.map((r) => r.message), ["m5"]);
  bus.log("info", "m6", { reconciler: "ns/a" });
  assert.equal(readable, 2, "signalled again after the consumer caught up");
  sub.close();
  bus.log("info", "m7", { reconciler: "ns/a" });
  assert.deepEqual(sub.take().records.map((r) => r.message), ["m6"]);
  assert.equal(sub.dropped, 2);
  assert.equal(bus.subscriberCount, 0);
});

test("a stalled bounded subscriber never blocks or grows: 20k records, 10 kept", () => {
  const bus = quietBus(10);
  const sub = new BoundedSubscription(bus, undefined, { capacity: 10 });
  for (let i = 0; i < 20_000; i++) bus.info("flood", { i });
  const { records, dropped } = sub.take();
  assert.equal(records.length, 10);
  assert.equal(dropped, 19_990);
  assert.equal(records[0]?.fields?.["i"], 19_990);
});

test("stdout gets one JSON object per line at or above the minimum level", () => {
  const lines: string[] = [];
  const bus = new LogBus({ stdout: { write: (line) => lines.push(line) }, stdoutLevel: "warn", clock: fixedClock });
  bus.info("not on stdout");
  bus.warn("on stdout", { k: "v" });
  bus.child({ reconciler: "ns/a", source: "user" }).error("also");
  assert.equal(lines.length, 2);
  assert.ok(lines.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n")));
  const parsed = lines.map((line) => JSON.parse(line) as LogRecord);
  assert.deepEqual(parsed[0], { seq: 2, time: "2025-01-02T03:04:05.678Z", level: "warn", message: "on stdout", fields: { k: "v" } });
  assert.deepEqual(parsed[1], bus.recent().at(-1));
  assert.equal(bus.recent().length, 3, "the ring keeps every level");
});

test("the stdout level comes from CHAKRATOR_LOG_LEVEL unless given; a bad value warns and uses info", () => {
  const saved = process.env["CHAKRATOR_LOG_LEVEL"];
  try {
    const lines: string[] = [];
    process.env["CHAKRATOR_LOG_LEVEL"] = "DEBUG";
    new LogBus({ stdout: { write: (line) => lines.push(line) } }).debug("d");
    assert.equal(lines.length, 1);
    process.env["CHAKRATOR_LOG_LEVEL"] = "loud";
    const bus = new LogBus({ stdout: { write: (line) => lines.push(line) } });
    bus.debug("hidden");
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? "", /CHAKRATOR_LOG_LEVEL is not a level/);
  } finally {
    if (saved === undefined) delete process.env["CHAKRATOR_LOG_LEVEL"];
    else process.env["CHAKRATOR_LOG_LEVEL"] = saved;
  }
  assert.equal(parseLogLevel(" Warn "), "warn");
  assert.equal(parseLogLevel("verbose"), undefined);
});

test("odd fields never throw: cycles, BigInt, errors with causes, functions, symbols, throwing getters, deep values", () => {
  const lines: string[] = [];
  const bus = new LogBus({ stdout: { write: (line) => lines.push(line) }, clock: fixedClock });
  const cyclic: Record<string, unknown> = { name: "loop" };
  cyclic["self"] = cyclic;
  const shared = { x: 1 };
  let deep: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < 20; i++) deep = { deep };
  const hostile = Object.defineProperty({}, "bad", { enumerable: true, get: () => { throw new Error("no"); } });
  const fields = {
    cyclic,
    twice: [shared, shared],
    big: 12345678901234567890n,
    error: new Error("outer", { cause: new TypeError("inner") }),
    fn: function named() {},
    sym: Symbol("s"),
    nan: Number.NaN,
    undef: undefined,
    date: new Date("2024-01-01T00:00:00Z"),
    map: new Map<unknown, unknown>([["k", 1n]]),
    set: new Set([1, 2]),
    hostile,
    deep,
    ["__proto__"]: "plain key",
  };
  Object.defineProperty(fields, "__proto__", { value: { polluted: true }, enumerable: true });
  assert.doesNotThrow(() => bus.info("odd", fields));
  assert.doesNotThrow(() => bus.info("odd value", { only: 1n } as Record<string, unknown>));
  const record = bus.recent()[0]!;
  const got = record.fields as Record<string, unknown>;
  assert.deepEqual(got["cyclic"], { name: "loop", self: "[Circular]" });
  assert.deepEqual(got["twice"], [{ x: 1 }, { x: 1 }], "shared (non-cyclic) references are not circular");
  assert.equal(got["big"], "12345678901234567890");
  const error = got["error"] as Record<string, unknown>;
  assert.equal(error["message"], "outer");
  assert.equal((error["cause"] as Record<string, unknown>)["name"], "TypeError");
  assert.equal(got["fn"], "[Function named]");
  assert.equal(got["sym"], "Symbol(s)");
  assert.equal(got["nan"], "NaN");
  assert.equal("undef" in got, false);
  assert.equal(got["date"], "2024-01-01T00:00:00.000Z");
  assert.deepEqual(got["map"], { k: "1" });
  assert.deepEqual(got["set"], [1, 2]);
  assert.match(String((got["hostile"] as Record<string, unknown>)["bad"]), /^\[Threw: Error: no\]$/);
  assert.match(JSON.stringify(got["deep"]), /\[Too deep\]/);
  assert.equal(Object.getPrototypeOf(got), Object.prototype, "a __proto__ key does not change the prototype");
  assert.equal(lines.length, 2);
  for (const line of lines) assert.doesNotThrow(() => JSON.parse(line));
  // Hostile context values are dropped, not thrown.
  assert.doesNotThrow(() => bus.log("nonsense" as "info", 42 as unknown as string, { revision: "x" as unknown as number }));
  assert.deepEqual(bus.recent().at(-1), { seq: 3, time: "2025-01-02T03:04:05.678Z", level: "info", message: "42" });
});

test("an ingested record (relayed from the leader) keeps its time, reaches readers, and is not printed again", () => {
  const lines: string[] = [];
  const bus = new LogBus({ stdout: { write: (l: string) => lines.push(l) } });
  const seen: LogRecord[] = [];
  bus.subscribe({ resource: "MyResource" }, (r) => seen.push(r));
  bus.info("local");
  bus.ingest({ seq: 999, time: "2026-01-02T03:04:05.000Z", level: "info", message: "from the leader", resource: "MyResource ns/a", source: "user" });
  const relayed = bus.recent({ text: "from the leader" });
  assert.equal(relayed.length, 1);
  assert.equal(relayed[0]!.time, "2026-01-02T03:04:05.000Z");
  assert.equal(relayed[0]!.seq, 2, "a local sequence number");
  assert.deepEqual(seen.map((r) => r.message), ["from the leader"]);
  assert.equal(lines.length, 1, "only the local record went to stdout");
});
