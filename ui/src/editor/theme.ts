/**
 * The editor's dark theme and syntax colours, in the spirit of One Dark, readable on
 * the app's panel background (contrast ≥ 4.5:1 for text, ≥ 3:1 for marks).
 */
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import type { Extension } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

const base = EditorView.theme(
  {
    "&": { color: "#d7dae0", backgroundColor: "#1e2027", height: "100%", fontSize: "13px" },
    ".cm-scroller": { fontFamily: "var(--chk-mono)", lineHeight: "1.55" },
    ".cm-content": { caretColor: "#61afef", padding: "6px 0" },
    ".cm-cursor, .cm-dropCursor": { borderLeftColor: "#61afef", borderLeftWidth: "2px" },
    "&.cm-focused": { outline: "none" },
    "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection":
      { backgroundColor: "#3a4457" },
    ".cm-activeLine": { backgroundColor: "#262a33" },
    ".cm-activeLineGutter": { backgroundColor: "#262a33", color: "#d7dae0" },
    ".cm-gutters": { backgroundColor: "#1e2027", color: "#5c6370", border: "none", borderRight: "1px solid #2c3039" },
    ".cm-foldPlaceholder": { backgroundColor: "#2c3039", border: "none", color: "#9aa2b1" },
    ".cm-matchingBracket, .cm-nonmatchingBracket": { backgroundColor: "#3a404b", outline: "1px solid #5c6370" },
    ".cm-searchMatch": { backgroundColor: "#5c4a1a", outline: "1px solid #e5c07b55" },
    ".cm-searchMatch.cm-searchMatch-selected": { backgroundColor: "#7a5e1d" },
    ".cm-selectionMatch": { backgroundColor: "#33404f" },
    ".cm-tooltip": { backgroundColor: "#252932", border: "1px solid #3b4150", color: "#d7dae0" },
    ".cm-tooltip-autocomplete > ul > li[aria-selected]": { backgroundColor: "#2f4b6b", color: "#fff" },
    ".cm-completionDetail": { color: "#9aa2b1", fontStyle: "normal", marginLeft: "1em" },
    ".cm-completionInfo": { maxWidth: "28em" },
    ".cm-panels": { backgroundColor: "#22252d", color: "#d7dae0" },
    ".cm-panels.cm-panels-bottom": { borderTop: "1px solid #353a45" },
    ".cm-diagnostic-error": { borderLeftColor: "#f07178" },
    ".cm-diagnostic-warning": { borderLeftColor: "#e5c07b" },
    ".cm-lintRange-error": {
      backgroundImage:
        "url(\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' width='6' height='3'><path d='m0 3 l2 -2 l1 0 l2 2 l1 0' stroke='%23f07178' fill='none' stroke-width='1.1'/></svg>\")",
    },
    ".cm-lint-marker": { width: "0.9em", height: "0.9em" },
  },
  { dark: true },
);

const highlight = HighlightStyle.define([
  { tag: t.keyword, color: "#c678dd" },
  { tag: [t.controlKeyword, t.moduleKeyword], color: "#c678dd" },
  { tag: [t.name, t.deleted, t.character, t.macroName], color: "#e6e8ec" },
  { tag: [t.propertyName], color: "#e06c75" },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.labelName], color: "#61afef" },
  { tag: [t.color, t.constant(t.name), t.standard(t.name)], color: "#d19a66" },
  { tag: [t.definition(t.name), t.separator], color: "#e6e8ec" },
  { tag: [t.typeName, t.className, t.namespace], color: "#e5c07b" },
  { tag: [t.number, t.changed, t.annotation, t.modifier, t.self, t.bool, t.null], color: "#d19a66" },
  { tag: [t.operator, t.operatorKeyword], color: "#56b6c2" },
  { tag: [t.url, t.escape, t.regexp, t.link, t.special(t.string)], color: "#56b6c2" },
  { tag: [t.meta, t.comment], color: "#7f8796", fontStyle: "italic" },
  { tag: t.strong, fontWeight: "bold" },
  { tag: t.emphasis, fontStyle: "italic" },
  { tag: t.link, textDecoration: "underline" },
  { tag: t.heading, fontWeight: "bold", color: "#e06c75" },
  { tag: [t.atom, t.special(t.variableName)], color: "#d19a66" },
  { tag: [t.processingInstruction, t.string, t.inserted], color: "#98c379" },
  { tag: t.invalid, color: "#ffffff", backgroundColor: "#e06c75" },
]);

/** The dark editor theme and its syntax highlighting. */
export function chakratorTheme(): Extension {
  return [base, syntaxHighlighting(highlight)];
}
