/**
 * A crashing plugin must not take the editor down. CodeMirror already catches an
 * exception in a view plugin, disables that plugin and routes the error to
 * `EditorView.exceptionSink`; this extension reports it (once per message) to the
 * host, which shows it, instead of only logging to the console.
 */
import type { Extension } from "@codemirror/state";
import { EditorView } from "@codemirror/view";

/** Reports errors thrown by editor extensions to `report`. */
export function crashGuard(report: (error: unknown) => void): Extension {
  const seen = new Set<string>();
  return EditorView.exceptionSink.of((error: unknown) => {
    const key = error instanceof Error ? error.message : String(error);
    if (seen.has(key)) return;
    seen.add(key);
    console.error("editor extension failed and was disabled:", error);
    report(error);
  });
}
