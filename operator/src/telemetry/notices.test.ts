// The editor's notice channel, beside the log bus.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LogBus } from "./log.ts";
import { NoticeChannel, type Notice } from "./notices.ts";

test("notices reach their listeners until unsubscribed; a throwing listener is removed and reported", () => {
  const bus = new LogBus({ stdout: false });
  const channel = new NoticeChannel({ onListenerError: (error, notice) => bus.warn("notice listener threw; unsubscribed", { error: String(error), notice: notice.type }) });
  const got: Notice[] = [];
  const unsubscribe = channel.subscribe((notice) => got.push(notice));
  channel.subscribe(() => {
    throw new Error("bad listener");
  });
  const accepted: Notice = { type: "revision-accepted", reconciler: "ns/a", revision: 4, hash: "abc" };
  const rejected: Notice = {
    type: "revision-rejected",
    reconciler: "ns/a",
    hash: "def",
    diagnostics: [{ file: "reconciler.ts", line: 3, column: 5, message: "Type 'string' is not assignable", code: 2322, severity: "error" }],
  };
  channel.publish(accepted);
  channel.publish(rejected);
  unsubscribe();
  channel.publish({ type: "reconciler-removed", reconciler: "ns/a" });
  assert.deepEqual(got, [accepted, rejected]);
  assert.equal(bus.recent({ text: "notice listener threw" }).length, 1);
});

test("notices never reach the log bus's records or stdout", () => {
  const lines: string[] = [];
  const bus = new LogBus({ stdout: { write: (line: string) => lines.push(line) } });
  const channel = new NoticeChannel();
  channel.publish({ type: "reconciler-removed", reconciler: "ns/a" });
  assert.deepEqual(bus.recent(), []);
  assert.deepEqual(lines, []);
  assert.equal(channel.listenerCount, 0);
});
