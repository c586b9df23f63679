/**
 * The read-only diff of one file, on `@codemirror/merge`'s unified merge view: the new
 * text is the document, and removed lines show as a block above the place they left.
 * On top of what the merge view draws, this keeps what the hand-written line diff
 * showed: the old and the new line number of every line, a "+"/"−" column (so a change
 * does not rest on colour alone), the app's add/remove colours, and `data-testid`
 * `diff-add` / `diff-del` on every added and removed line. Unchanged runs fold to
 * `CONTEXT` lines around each change (runs shorter than `MIN_FOLD` stay open); a fold
 * opens on click or Enter. F7 / Shift-F7 move to the next / previous change.
 */
import { javascript } from "@codemirror/lang-javascript";
import { Chunk, getChunks, goToNextChunk, goToPreviousChunk, getOriginalDoc, uncollapseUnchanged, unifiedMergeView } from "@codemirror/merge";
import { EditorState, Prec, RangeSetBuilder, StateField, type Extension } from "@codemirror/state";
import { type BlockInfo, Decoration, type DecorationSet, EditorView, GutterMarker, gutter, keymap, ViewPlugin, type Command } from "@codemirror/view";
import { minimalSetup } from "codemirror";
import { chakratorTheme } from "./theme.ts";

/** Unchanged lines kept open on each side of a change. */
export const CONTEXT = 3;
/** The shortest unchanged run that folds (shorter runs are shown). */
export const MIN_FOLD = 4;
/** Big, very different texts fall back to a coarser diff instead of freezing the page. */
const diffConfig = { scanLimit: 500, timeout: 1000 };

/** What the diff view is told besides the two texts. */
export interface DiffViewOptions {
  /** The file's name: picks the syntax highlighting and labels the view. */
  file: string;
  beforeLabel: string;
  afterLabel: string;
}

/** How many lines were added and removed. */
export interface DiffStats {
  added: number;
  removed: number;
}

/**
 * The state of a read-only unified diff turning `before` into `after`. The merge view
 * computes the changed chunks when the state is created; `diffStats` reads them.
 */
export function diffViewState(before: string, after: string, opts: DiffViewOptions): EditorState {
  return EditorState.create({
    doc: after,
    extensions: [
      minimalSetup,
      languageFor(opts.file),
      chakratorTheme(),
      diffTheme,
      EditorState.readOnly.of(true),
      EditorState.phrases.of({ "$ unchanged lines": "$ unchanged lines (click or Enter to show)" }),
      unifiedMergeView({
        original: before,
        mergeControls: false,
        gutter: false,
        highlightChanges: true,
        syntaxHighlightDeletions: true,
        collapseUnchanged: { margin: CONTEXT, minSize: MIN_FOLD },
        diffConfig,
      }),
      numberGutter("a"),
      numberGutter("b"),
      opGutter,
      addedLineIds,
      deletedLineIds,
      Prec.high(keymap.of([
        { key: "F7", run: goToNextChunk, shift: goToPreviousChunk, preventDefault: true },
        { key: "Enter", run: unfoldAtCursor },
      ])),
      EditorView.contentAttributes.of({
        "aria-label": `${opts.file}: changes from ${opts.beforeLabel} to ${opts.afterLabel}`,
        "aria-readonly": "true",
      }),
    ],
  });
}

/** Added and removed lines of a diff view's state. */
export function diffStats(state: EditorState): DiffStats {
  const a = getOriginalDoc(state);
  const b = state.doc;
  let added = 0;
  let removed = 0;
  for (const c of chunksOf(state)) {
    if (c.toA > c.fromA) removed += a.lineAt(c.endA).number - a.lineAt(c.fromA).number + 1;
    if (c.toB > c.fromB) added += b.lineAt(c.endB).number - b.lineAt(c.fromB).number + 1;
  }
  return { added, removed };
}

function chunksOf(state: EditorState): readonly Chunk[] {
  return getChunks(state)?.chunks ?? [];
}

function languageFor(file: string): Extension {
  return /\.[cm]?[jt]sx?$/.test(file) ? javascript({ typescript: /\.[cm]?tsx?$/.test(file) }) : [];
}

/**
 * Where a line of the new text (starting at `posB`) stands: added (inside a chunk), or
 * unchanged at `posA` in the old text.
 */
function locate(chunks: readonly Chunk[], posB: number): { added: true } | { added: false; posA: number } {
  let offA = 0;
  let offB = 0;
  for (const c of chunks) {
    if (c.fromB > posB) break;
    if (posB < c.toB) return { added: true };
    offA = c.toA;
    offB = c.toB;
  }
  return { added: false, posA: offA + (posB - offB) };
}

/** The chunk whose removed lines the block widget at `block` shows, if it is one. */
function deletionAt(state: EditorState, block: BlockInfo): Chunk | undefined {
  if (block.from !== block.to) return undefined;
  return chunksOf(state).find((c) => c.fromB === block.from && c.toA > c.fromA);
}

/** The old text's line numbers of a chunk's removed lines. */
function removedLines(state: EditorState, c: Chunk): number[] {
  const a = getOriginalDoc(state);
  const first = a.lineAt(c.fromA).number;
  const last = a.lineAt(c.endA).number;
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** A gutter cell: one text per line (a removed block has several), and a row class. */
class CellMarker extends GutterMarker {
  readonly texts: readonly string[];
  override readonly elementClass: string;
  constructor(texts: readonly string[], elementClass: string) {
    super();
    this.texts = texts;
    this.elementClass = elementClass;
  }
  override eq(other: GutterMarker): boolean {
    return other instanceof CellMarker && other.elementClass === this.elementClass && other.texts.join("\n") === this.texts.join("\n");
  }
  override toDOM(): Node {
    if (this.texts.length === 1) return document.createTextNode(this.texts[0] ?? "");
    const box = document.createElement("div");
    for (const t of this.texts) box.appendChild(document.createElement("div")).textContent = t;
    return box;
  }
}

/** Line numbers of the old (`a`) or the new (`b`) text, as the old diff's two columns. */
function numberGutter(side: "a" | "b"): Extension {
  return gutter({
    class: `chk-diff-numbers chk-diff-numbers-${side}`,
    lineMarker(view, line) {
      const at = locate(chunksOf(view.state), line.from);
      if (at.added) return side === "b" ? new CellMarker([String(view.state.doc.lineAt(line.from).number)], "chk-diff-row-add") : new CellMarker([""], "chk-diff-row-add");
      return new CellMarker([String(side === "a" ? getOriginalDoc(view.state).lineAt(at.posA).number : view.state.doc.lineAt(line.from).number)], "");
    },
    widgetMarker(view, _widget, block) {
      const c = deletionAt(view.state, block);
      if (!c) return null;
      const lines = removedLines(view.state, c);
      return new CellMarker(side === "a" ? lines.map(String) : lines.map(() => ""), "chk-diff-row-del");
    },
    initialSpacer: (view) => new CellMarker([String(Math.max(view.state.doc.lines, getOriginalDoc(view.state).lines))], ""),
  });
}

/** "+" on added lines and "−" on removed ones. */
const opGutter = gutter({
  class: "chk-diff-op",
  lineMarker: (view, line) => (locate(chunksOf(view.state), line.from).added ? new CellMarker(["+"], "chk-diff-row-add chk-diff-op-add") : null),
  widgetMarker(view, _widget, block) {
    const c = deletionAt(view.state, block);
    return c ? new CellMarker(removedLines(view.state, c).map(() => "−"), "chk-diff-row-del chk-diff-op-del") : null;
  },
});

const addedLine = Decoration.line({ attributes: { "data-testid": "diff-add" } });

function addedLineDecorations(state: EditorState): DecorationSet {
  const b = new RangeSetBuilder<Decoration>();
  for (const c of chunksOf(state)) {
    if (c.toB <= c.fromB) continue;
    for (let n = state.doc.lineAt(c.fromB).number, last = state.doc.lineAt(c.endB).number; n <= last; n++) {
      const from = state.doc.line(n).from;
      b.add(from, from, addedLine);
    }
  }
  return b.finish();
}

/** `data-testid="diff-add"` on each added line (the merge view marks them `cm-changedLine`). */
const addedLineIds = StateField.define<DecorationSet>({
  create: addedLineDecorations,
  update: (deco, tr) => (tr.docChanged || getChunks(tr.state)?.chunks !== getChunks(tr.startState)?.chunks ? addedLineDecorations(tr.state) : deco),
  provide: (f) => EditorView.decorations.from(f),
});

/**
 * `data-testid="diff-del"` on each removed line. The merge view draws those inside a
 * widget of its own, which CodeMirror leaves alone once drawn, so they are tagged in
 * the DOM after each update (the widget keeps its DOM, and with it the tag).
 */
const deletedLineIds = ViewPlugin.define((view) => {
  const tag = (): void => {
    view.requestMeasure({
      key: deletedLineIds,
      read: () => null,
      write: () => {
        for (const el of view.contentDOM.querySelectorAll(".cm-deletedLine:not([data-testid])")) el.setAttribute("data-testid", "diff-del");
      },
    });
  };
  tag();
  return { update: tag };
});

/** The runs the merge view folds, computed as `collapseUnchanged` does (the text never changes). */
function foldedRanges(state: EditorState): Array<{ from: number; to: number }> {
  const doc = state.doc;
  const out: Array<{ from: number; to: number }> = [];
  let prevLine = 1;
  const chunks = chunksOf(state);
  for (let i = 0; ; i++) {
    const c = chunks[i];
    const from = i ? prevLine + CONTEXT : 1;
    const to = c ? doc.lineAt(c.fromB).number - 1 - CONTEXT : doc.lines;
    if (to - from + 1 >= MIN_FOLD) out.push({ from: doc.line(from).from, to: doc.line(to).to });
    if (!c) break;
    prevLine = doc.lineAt(Math.min(doc.length, c.toB)).number;
  }
  return out;
}

/** Enter beside a folded run (the cursor sits just before or after it) opens it. */
const unfoldAtCursor: Command = (view) => {
  const head = view.state.selection.main.head;
  const r = foldedRanges(view.state).find((f) => head >= f.from - 1 && head <= f.to + 1);
  if (!r) return false;
  view.dispatch({ effects: uncollapseUnchanged.of(r.from) });
  return true;
};

/** The app's diff colours over the editor theme; the view grows with its text. */
const diffTheme = EditorView.theme({
  "&": { height: "auto", backgroundColor: "var(--chk-bg-sunken)" },
  ".cm-gutters": { backgroundColor: "var(--chk-bg-sunken)" },
  "&.cm-merge-b .cm-changedLine, .cm-inlineChangedLine": { backgroundColor: "var(--chk-diff-add)" },
  ".cm-deletedChunk": { backgroundColor: "var(--chk-diff-del)" },
  ".cm-gutterElement.chk-diff-row-add": { backgroundColor: "var(--chk-diff-add)" },
  ".cm-gutterElement.chk-diff-row-del": { backgroundColor: "var(--chk-diff-del)" },
  ".chk-diff-numbers .cm-gutterElement": { padding: "0 4px 0 6px", minWidth: "2.5em", textAlign: "right", color: "var(--chk-fg-faint)" },
  ".chk-diff-op .cm-gutterElement": { width: "1.5em", textAlign: "center", userSelect: "none" },
  ".cm-gutterElement.chk-diff-op-add": { color: "var(--chk-ok)" },
  ".cm-gutterElement.chk-diff-op-del": { color: "var(--chk-error)" },
  "& .cm-collapsedLines": {
    color: "var(--chk-fg-muted)",
    background: "#1d2128",
    fontStyle: "italic",
    fontFamily: "var(--chk-font)",
    "&:before, &:after": { content: '"⋯"' }, // the merge view's "⦚" is missing from common UI fonts
  },
});

