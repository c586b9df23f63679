/**
 * Inline diagnostics from the server's type-checker (POST /api/validate): a CodeMirror
 * `linter()` that runs after typing pauses, so the editor shows exactly what the
 * operator would reject. TypeScript gives a 1-based line and column but no length, so
 * a mark covers the word at that position (at least one character). A failed request
 * yields no marks rather than an error inside the editor.
 */
import { type Diagnostic as CmDiagnostic, linter, lintGutter } from "@codemirror/lint";
import type { Extension, Text } from "@codemirror/state";
import type { EditorView } from "@codemirror/view";
import type { Diagnostic } from "../protocol.ts";

/** Checks the given text (the active file) and resolves to its diagnostics. */
export type ValidateFn = (text: string) => Promise<Diagnostic[]>;

/** Maps a 1-based line/column diagnostic to a document range, clamped to the document. */
export function toRange(doc: Text, line: number, column: number): { from: number; to: number } {
  const l = doc.line(Math.min(Math.max(1, line), doc.lines));
  const from = Math.min(l.from + Math.max(0, column - 1), l.to);
  let to = from;
  while (to < l.to && /[\w$]/.test(doc.sliceString(to, to + 1))) to++;
  if (to === from) to = Math.min(from + 1, l.to);
  if (to === from && from > l.from) return { from: from - 1, to: from };
  return { from, to };
}

/** Converts server diagnostics for this document into CodeMirror's. */
export function toCmDiagnostics(doc: Text, diagnostics: readonly Diagnostic[]): CmDiagnostic[] {
  return diagnostics.map((d) => {
    const { from, to } = toRange(doc, d.line, d.column);
    return { from, to, severity: d.severity, message: d.message, source: `TS${d.code}` };
  });
}

/** A debounced linter backed by `validate`, plus the gutter markers. */
export function serverDiagnostics(validate: ValidateFn, delay = 500): Extension {
  return [
    linter(
      async (view: EditorView) => {
        const doc = view.state.doc;
        try {
          return toCmDiagnostics(doc, await validate(doc.toString()));
        } catch {
          return []; // offline or refused: no marks; the status bar says why
        }
      },
      { delay },
    ),
    lintGutter(),
  ];
}
