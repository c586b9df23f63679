/**
 * Trailing whitespace, stripped on save and shown while typing. Why: `kubectl get -o
 * yaml` and `kubectl edit` print a ConfigMap value with a space at the end of any line
 * as one double-quoted string full of `\n` escapes instead of a `|` block, which makes
 * the kubectl path miserable. The strip is a normal undoable transaction, so Mod-Z
 * brings the spaces back if they were wanted.
 */
import type { ChangeSpec, EditorState, TransactionSpec } from "@codemirror/state";

/** The same rule as the operator's (operator/src/reconcilers/compile-input.ts). */
export function stripTrailingWhitespace(text: string): string {
  return text.replace(/[ \t]+$/gm, "");
}

/** A transaction stripping trailing spaces and tabs from every line, or undefined if none. */
export function trimTrailingWhitespace(state: EditorState): TransactionSpec | undefined {
  const changes: ChangeSpec[] = [];
  for (let n = 1; n <= state.doc.lines; n++) {
    const line = state.doc.line(n);
    const m = /[ \t]+$/.exec(line.text);
    if (m) changes.push({ from: line.from + m.index, to: line.to });
  }
  return changes.length === 0 ? undefined : { changes, userEvent: "delete.trim" };
}
