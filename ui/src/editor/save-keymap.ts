/**
 * Mod-S (Ctrl-S, Cmd-S on macOS) saves. Bound at the highest precedence so the
 * browser's "save page" never opens while the editor has focus.
 */
import { Prec, type Extension } from "@codemirror/state";
import { keymap } from "@codemirror/view";

/** Calls `save` on Mod-s (and Mod-Shift-s with `force`). */
export function saveKeymap(save: (force: boolean) => void): Extension {
  return Prec.highest(
    keymap.of([
      { key: "Mod-s", preventDefault: true, run: () => (save(false), true) },
      { key: "Mod-Shift-s", preventDefault: true, run: () => (save(true), true) },
    ]),
  );
}
