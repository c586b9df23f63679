// The relay's follower side against a fake leader (a local WebSocket server): an
// address that fails the rule is never contacted; what comes back is validated and
// capped before the bus sees it; the rate limit holds (on a fixed clock).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocketServer, type WebSocket } from "ws";
import { eventually } from "../../testenv/index.ts";
import { LogBus, type LogRecord } from "./log.ts";
import { LogRelay, relayedRecord } from "./relay.ts";

const caps = { messageChars: 8192, fieldsChars: 32_768 };
const good = { seq: 7, time: "2026-01-01T00:00:00.000Z", level: "info", message: "begin", reconciler: "ns/r", revision: 2, resource: "MyResource ns/a", source: "user", fields: { n: 1 } };

describe("relayedRecord", () => {
  it("takes a well-formed reconcile record, with only the record's own fields", () => {
    const r = relayedRecord({ ...good, extra: "dropped", seq: 99 }, caps)!;
    assert.deepEqual(r, { seq: 0, time: good.time, level: "info", message: "begin", reconciler: "ns/r", revision: 2, resource: "MyResource ns/a", source: "user", fields: { n: 1 } });
  });

  it("refuses the wrong shape, levels and field types", () => {
    const bad: unknown[] = [
      null, "text", [good], 42,
      { ...good, level: "fatal" }, { ...good, level: 1 },
      { ...good, time: "yesterday" }, { ...good, time: 5 },
      { ...good, message: { toString: "x" } }, { ...good, message: undefined },
      { ...good, resource: undefined }, { ...good, resource: "" }, { ...good, resource: 3 }, { ...good, resource: "x".repeat(601) },
      { ...good, reconciler: "no-slash" }, { ...good, reconciler: "../../etc" }, { ...good, reconciler: 1 },
      { ...good, revision: -1 }, { ...good, revision: 1.5 }, { ...good, revision: "2" },
      { ...good, source: "admin" },
      { ...good, fields: [1, 2] }, { ...good, fields: "x" }, { ...good, fields: null },
    ];
    for (const b of bad) assert.equal(relayedRecord(b, caps), undefined, JSON.stringify(b)?.slice(0, 120));
  });

  it("caps the message and the fields as the sandbox caps ctx.log", () => {
    const long = relayedRecord({ ...good, message: "m".repeat(10_000) }, caps)!;
    assert.equal(long.message, `${"m".repeat(8192)}…[1808 more chars]`);
    assert.deepEqual(relayedRecord({ ...good, fields: { blob: "f".repeat(40_000) } }, caps)!.fields, { fieldsError: "log fields over 32768 characters were dropped" });
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 12; i++) deep = { d: deep };
    assert.deepEqual(relayedRecord({ ...good, fields: deep }, caps)!.fields, { fieldsError: "log fields deeper than 8 levels were dropped" });
  });
});

describe("LogRelay against a fake leader", () => {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  let url: string;
  const upgrades: IncomingMessage[] = [];
  let script: (ws: WebSocket) => void = () => {};

  before(async () => {
    server.on("upgrade", (req, socket, head) => {
      upgrades.push(req);
      wss.handleUpgrade(req, socket, head, (ws) => script(ws));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    for (const c of wss.clients) c.terminate();
    server.close();
  });

  it("never contacts an address the rule refuses, and says why once", async () => {
    const problems: string[] = [];
    const relay = new LogRelay({ bus: new LogBus({ stdout: false }), refusal: async () => "not an operator pod", token: async () => "must-not-be-sent", onProblem: (m) => problems.push(m) });
    const before = upgrades.length;
    relay.follow(url);
    await eventually(() => problems.length > 0, 5_000, "the refusal reported");
    relay.stop();
    assert.equal(upgrades.length, before, "no connection was made");
    assert.deepEqual(problems, [`not relaying the leader's logs from ${url}: not an operator pod`]);
  });

  it("sends only the token it is given, and ingests only valid records, capped", async () => {
    const bus = new LogBus({ stdout: false });
    const got: LogRecord[] = [];
    bus.subscribe(undefined, (r) => got.push(r));
    script = (ws) => {
      ws.send("not json");
      ws.send(JSON.stringify({ type: "hello", replayed: 0 }));
      ws.send(JSON.stringify({ type: "log", record: { ...good, message: "first" } }));
      ws.send(JSON.stringify({ type: "log", record: { ...good, level: "fatal", message: "bad level" } }));
      ws.send(JSON.stringify({ type: "log", record: { ...good, fields: "nope", message: "bad fields" } }));
      ws.send(JSON.stringify({ type: "log", record: { time: good.time, level: "info", message: "operator-wide, not relayed" } }));
      ws.send(JSON.stringify({ type: "log", record: { ...good, message: "x".repeat(9000) } }));
      ws.send(JSON.stringify({ type: "log", record: { ...good, message: "last" } }));
    };
    const relay = new LogRelay({ bus, refusal: async () => undefined, token: async () => "audience-bound" });
    relay.follow(url);
    await eventually(() => got.some((r) => r.message === "last"), 10_000, "the last record");
    relay.stop();
    assert.equal(upgrades.at(-1)?.headers.authorization, "Bearer audience-bound");
    assert.deepEqual(got.map((r) => r.message.slice(0, 10)), ["first", "xxxxxxxxxx", "last"]);
    assert.equal(got[1]!.message.length, 8192 + "…[808 more chars]".length);
    assert.equal(relay.relayed, 3);
    assert.equal(relay.refused, 3, "not JSON, bad level, bad fields");
  });

  it("refuses a frame over 256 KiB (the connection is closed, and retried)", async () => {
    const bus = new LogBus({ stdout: false });
    const got: LogRecord[] = [];
    bus.subscribe(undefined, (r) => got.push(r));
    let connections = 0;
    script = (ws) => {
      connections++;
      if (connections === 1) ws.send(JSON.stringify({ type: "log", record: { ...good, message: "y".repeat(300 * 1024) } }));
      else ws.send(JSON.stringify({ type: "log", record: { ...good, message: "after reconnect" } }));
    };
    const relay = new LogRelay({ bus, refusal: async () => undefined });
    relay.follow(url);
    await eventually(() => got.some((r) => r.message === "after reconnect"), 10_000, "a record after the reconnect");
    relay.stop();
    assert.equal(got.length, 1, "the huge frame reached nothing");
    assert.ok(connections >= 2);
  });

  it("drops records over the rate limit and says how many", async () => {
    const bus = new LogBus({ stdout: false });
    const got: LogRecord[] = [];
    bus.subscribe(undefined, (r) => got.push(r));
    script = (ws) => {
      for (let i = 0; i < 25; i++) ws.send(JSON.stringify({ type: "log", record: { ...good, message: `r${i}` } }));
      ws.send(JSON.stringify({ type: "log", record: { ...good, message: "end" } }));
    };
    const clock = { t: 1_000_000 };
    const relay = new LogRelay({ bus, refusal: async () => undefined, limits: { perSecond: 5, burst: 10, now: () => clock.t } });
    relay.follow(url);
    await eventually(() => relay.relayed + relay.dropped === 26, 10_000, "every record seen");
    relay.stop();
    assert.equal(relay.relayed, 10, "the burst, on a clock that does not move");
    assert.equal(relay.dropped, 16);
    assert.deepEqual(got.filter((r) => r.resource).map((r) => r.message), Array.from({ length: 10 }, (_, i) => `r${i}`));
    assert.ok(got.some((r) => r.level === "warn" && /dropped 1 records from the leader over the limit of 5 a second/.test(r.message)));
  });
});
