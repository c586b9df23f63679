/**
 * `npm start`'s console lines: log records as short readable lines, coloured by level
 * only for a person at a terminal. No colour when stdout is not a TTY (a pipe, a file,
 * CI) or when `NO_COLOR` is set to anything but the empty string (no-color.org), so
 * redirected output holds no escape codes at all.
 */
import type { LogRecord } from "../telemetry/log.ts";

const COLOURS: Record<LogRecord["level"], string> = { debug: "\x1b[2m", info: "", warn: "\x1b[33m", error: "\x1b[31m" };

/** Whether to colour lines written to `stream` under `env`. */
export function useColour(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return stream.isTTY === true && !env["NO_COLOR"];
}

/** One record as a line (with its newline): time, level, [reconciler rev resource], message, fields. */
export function consoleLine(r: LogRecord, colour: boolean): string {
  const where = [r.reconciler, r.revision !== undefined ? `rev ${r.revision}` : undefined, r.resource].filter(Boolean).join(" ");
  const fields = r.fields ? ` ${JSON.stringify(r.fields)}` : "";
  const text = `${r.time.slice(11, 23)} ${r.level.padEnd(5)} ${where ? `[${where}] ` : ""}${r.message}${fields}`;
  return colour && COLOURS[r.level] ? `${COLOURS[r.level]}${text}\x1b[0m\n` : `${text}\n`;
}
