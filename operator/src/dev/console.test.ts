// npm start's console lines: colour only on a terminal without NO_COLOR; never an
// escape code otherwise (issue 12: a literal reset at the end of piped lines).
import assert from "node:assert/strict";
import { it } from "node:test";
import type { LogRecord } from "../telemetry/log.ts";
import { consoleLine, useColour } from "./console.ts";

const rec = (level: LogRecord["level"]): LogRecord => ({ seq: 1, time: "2026-01-02T03:04:05.678Z", level, message: "hi", reconciler: "ns/r", revision: 2, resource: "MyResource ns/a", fields: { n: 1 } });

it("colours only a terminal, and never with NO_COLOR set", () => {
  assert.equal(useColour({ isTTY: true }, {}), true);
  assert.equal(useColour({ isTTY: true }, { NO_COLOR: "1" }), false);
  assert.equal(useColour({ isTTY: true }, { NO_COLOR: "" }), true, "an empty NO_COLOR does not count (no-color.org)");
  assert.equal(useColour({ isTTY: false }, {}), false);
  assert.equal(useColour({}, {}), false, "a pipe has no isTTY");
});

it("writes plain lines without colour, and wraps warn and error in colour with a reset on a terminal", () => {
  for (const level of ["debug", "info", "warn", "error"] as const) {
    const plain = consoleLine(rec(level), false);
    assert.equal(plain, `03:04:05.678 ${level.padEnd(5)} [ns/r rev 2 MyResource ns/a] hi {"n":1}\n`);
    assert.doesNotMatch(plain, /\x1b/);
  }
  assert.equal(consoleLine(rec("warn"), true), `\x1b[33m03:04:05.678 warn  [ns/r rev 2 MyResource ns/a] hi {"n":1}\x1b[0m\n`);
  assert.doesNotMatch(consoleLine(rec("info"), true), /\x1b/, "info is the terminal's own colour");
});
