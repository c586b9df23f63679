/**
 * Diagnostics of the compile step, in one plain JSON shape shared by Events, logs,
 * the REST API and the editor.
 *
 * Design: TypeScript's own diagnostics keep their `TSnnnn` code; the rules Chakrator
 * adds on top (allowed imports, entry module, size cap, …) use codes from
 * {@link ChakratorCode}, all >= 99000, so the two never collide. Positions are
 * 1-based lines and 1-based columns counted in UTF-16 code units, as TypeScript and
 * CodeMirror count them. A diagnostic about the source as a whole has `file: ""`.
 */
// Types only: this module is also loaded by the operator process, which must not pay
// for loading the TypeScript compiler (it runs in its own process, compile-process.ts).
import type ts from "typescript";

/** `ts.DiagnosticCategory.Error`, a stable value of the compiler API. */
const CATEGORY_ERROR = 1;

/** `ts.flattenDiagnosticMessageText(text, "\n")`, without loading TypeScript. */
function flatten(text: string | ts.DiagnosticMessageChain, indent = 0): string {
  if (typeof text === "string") return text;
  let out = `${"  ".repeat(indent)}${text.messageText}`;
  for (const next of text.next ?? []) out += `\n${flatten(next, indent + 1)}`;
  return out;
}

/** One problem found in a reconciler source. */
export interface Diagnostic {
  /** The ConfigMap key (`reconciler.ts`, `lib.ts`), or `""` for the source as a whole. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** The message, with TypeScript's message chain flattened onto indented lines. */
  message: string;
  /** A TypeScript code (e.g. 2322) or a {@link ChakratorCode} (>= 99000). */
  code: number;
  severity: "error" | "warning";
}

/** Codes of the checks Chakrator adds to TypeScript's; stable, documented in messages. */
export const ChakratorCode = {
  /** The ConfigMap has no `reconciler.ts` key. */
  MissingEntry: 99001,
  /** `reconciler.ts` (error) or another module (warning) is empty or whitespace. */
  EmptyModule: 99002,
  /** The `.ts` keys together exceed the size cap. */
  SourceTooLarge: 99003,
  /** An import of anything but a sibling `.ts` key or a type import of "chakrator". */
  ForbiddenImport: 99004,
  /** A value (non-type) import of "chakrator", which has nothing at run time. */
  ValueImportOfTypings: 99005,
  /** `reconciler.ts` has no default export, or it is not a `Reconciler`. */
  NotAReconciler: 99006,
  /** The input is not a map of strings. */
  InvalidInput: 99007,
  /** The compiler itself failed (e.g. a stack overflow on absurdly nested code). */
  CompilerFailure: 99008,
  /** Another reconciler already reconciles this `for` kind in an overlapping scope (the loader's check). */
  KindAlreadyReconciled: 99010,
  /** A `chakrator.dev/*` annotation on the reconciler ConfigMap has a value out of its range (the loader's check). */
  InvalidAnnotation: 99011,
  /** The compiled module threw while the sandbox loaded it (top-level code, the loader's check). */
  LoadFailed: 99012,
} as const;

/** Smallest Chakrator code: anything below is a TypeScript code. */
const FIRST_CHAKRATOR_CODE = 99000;

/**
 * Converts a TypeScript diagnostic, naming its file with `keyOf` (a ConfigMap key,
 * `""` when the file is not the user's). Never throws.
 */
export function fromTsDiagnostic(d: ts.Diagnostic, keyOf: (fileName: string) => string): Diagnostic {
  let file = "";
  let line = 1;
  let column = 1;
  if (d.file !== undefined) {
    file = keyOf(d.file.fileName);
    if (file !== "" && d.start !== undefined) {
      const pos = d.file.getLineAndCharacterOfPosition(d.start);
      line = pos.line + 1;
      column = pos.character + 1;
    }
  }
  return {
    file,
    line,
    column,
    message: explainMissingGlobal(d.code, flatten(d.messageText)),
    code: d.code,
    severity: d.category === CATEGORY_ERROR ? "error" : "warning",
  };
}

/** "Cannot find name" codes whose advice (install @types/node, add lib "dom") misleads here. */
const HOST_GLOBAL_CODES = new Set([2580, 2582, 2584, 2591, 2867, 2868]);
/** Host globals people reach for; plain TS2304 on these gets the same explanation. */
const HOST_GLOBALS = new Set([
  "process", "require", "module", "exports", "__dirname", "__filename", "Buffer", "global", "console",
  "setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "queueMicrotask",
  "fetch", "window", "document", "navigator", "localStorage", "XMLHttpRequest", "WebSocket",
]);

/**
 * Replaces TypeScript's advice for a missing Node or browser global with the truth
 * of the sandbox: only ECMAScript built-ins and `ctx` exist.
 */
function explainMissingGlobal(code: number, message: string): string {
  const name = /^Cannot find name '([^']+)'/.exec(message)?.[1];
  if (name === undefined || !(HOST_GLOBAL_CODES.has(code) || (code === 2304 && HOST_GLOBALS.has(name)))) return message;
  return (
    `Cannot find name '${name}': the sandbox has only the ECMAScript built-ins and the \`ctx\` of each call, ` +
    "no Node.js or browser globals (log with ctx.log, read objects with ctx.get/ctx.list)."
  );
}

/** Builds a Chakrator diagnostic at `pos` (a character offset) of `sf`, or at 1:1 without one. */
export function diagnosticAt(
  file: string,
  sf: ts.SourceFile | undefined,
  pos: number | undefined,
  code: number,
  message: string,
  severity: Diagnostic["severity"] = "error",
): Diagnostic {
  let line = 1;
  let column = 1;
  if (sf !== undefined && pos !== undefined) {
    const lc = sf.getLineAndCharacterOfPosition(pos);
    line = lc.line + 1;
    column = lc.character + 1;
  }
  return { file, line, column, message, code, severity };
}

/** Sorts by file, line, column, then code; drops exact duplicates. Returns a new array. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of diags) {
    const k = `${d.file}\0${d.line}\0${d.column}\0${d.code}\0${d.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  }
  return out.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column || a.code - b.code,
  );
}

/** Longest message kept on one formatted line; the rest is cut with an ellipsis. */
const MAX_LINE_MESSAGE = 400;

/**
 * Formats diagnostics as short human lines, one per diagnostic, e.g.
 * `reconciler.ts:12:5 error TS2322: Type 'number' is not assignable to type 'string'.`
 * Message chains are folded onto one line and cut at 400 characters. At most `max`
 * (default 10) lines are listed, then `… and N more`. Returns "" for no diagnostics.
 */
export function formatDiagnostics(diags: readonly Diagnostic[], max = 10): string {
  const limit = Number.isFinite(max) && max >= 0 ? Math.floor(max) : 10;
  const lines: string[] = [];
  for (const d of diags.slice(0, limit)) {
    const where = d.file === "" ? "" : `${d.file}:${d.line}:${d.column} `;
    const prefix = d.code >= FIRST_CHAKRATOR_CODE ? "CHK" : "TS";
    let message = d.message.replace(/\s*\n\s*/g, " ").trim();
    if (message.length > MAX_LINE_MESSAGE) message = `${message.slice(0, MAX_LINE_MESSAGE - 1)}…`;
    lines.push(`${where}${d.severity} ${prefix}${d.code}: ${message}`);
  }
  if (diags.length > limit) lines.push(`… and ${diags.length - limit} more`);
  return lines.join("\n");
}
