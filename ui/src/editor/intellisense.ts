/**
 * IntelliSense from the operator's TypeScript language service (POST
 * /api/intellisense/*, answered by the compiler process beside the warm compiler):
 * completions with member types and documentation, hover (quick info), signature
 * help inside a call's parentheses, go to definition (F12 or Mod-click; into another
 * module of the ConfigMap, or read-only into the contract and kind typings), and
 * format document (Shift-Alt-F, TypeScript's own formatter).
 *
 * Stale answers are dropped: every request remembers the document it was asked for,
 * and an answer for a document that has changed since is thrown away (completions
 * also abort through CodeMirror's own abort signal). When the service cannot answer
 * (offline, refused, an old server), completion falls back to the static list of the
 * contract (completions.ts), so the editor never goes quiet.
 */
import { autocompletion, type Completion, type CompletionContext, type CompletionResult } from "@codemirror/autocomplete";
import { Prec, StateEffect, StateField, type EditorState, type Extension, type Text } from "@codemirror/state";
import { EditorView, hoverTooltip, keymap, showTooltip, ViewPlugin, type Tooltip, type ViewUpdate } from "@codemirror/view";
import { chakratorCompletionSource } from "./completions.ts";

/** A completion entry from the server. */
export interface LsCompletionItem {
  label: string;
  kind: string;
  detail?: string;
  documentation?: string;
  sortText: string;
  insertText?: string;
  optional?: boolean;
}
export interface LsCompletions {
  from: number;
  isMember: boolean;
  items: LsCompletionItem[];
}
export interface LsQuickInfo {
  from: number;
  to: number;
  display: string;
  documentation: string;
  tags: Array<{ name: string; text: string }>;
}
export interface LsSignature {
  items: Array<{ label: string; parameters: Array<{ label: string; documentation: string }>; documentation: string }>;
  selected: number;
  argument: number;
  from: number;
}
export interface LsDefinition {
  file: string;
  readOnly: boolean;
  line: number;
  column: number;
  name: string;
  preview?: { firstLine: number; text: string };
}
export interface LsFormatEdit {
  from: number;
  to: number;
  insert: string;
}

/** What the editor asks; `text` is the active file's current text. Rejections mean "no answer". */
export interface IntelliSense {
  completions(text: string, pos: number, signal?: AbortSignal): Promise<LsCompletions>;
  quickInfo(text: string, pos: number, signal?: AbortSignal): Promise<LsQuickInfo | null>;
  signature(text: string, pos: number, signal?: AbortSignal): Promise<LsSignature | null>;
  definition(text: string, pos: number): Promise<LsDefinition[]>;
  format(text: string): Promise<LsFormatEdit[]>;
}

/** TypeScript element kinds → CodeMirror completion types (icons). */
const TYPES: Record<string, string> = {
  property: "property", method: "method", function: "function", "local function": "function", var: "variable",
  let: "variable", const: "constant", "local var": "variable", parameter: "variable", interface: "interface",
  type: "type", class: "class", enum: "enum", "enum member": "constant", keyword: "keyword", module: "namespace",
  alias: "type", "type parameter": "type", string: "text",
};

function toCompletion(item: LsCompletionItem, i: number): Completion {
  const c: Completion = { label: item.label, type: TYPES[item.kind] ?? "variable", boost: -Math.min(i, 99) / 100 };
  if (item.detail !== undefined) c.detail = shortDetail(item.detail, item.label);
  if (item.documentation !== undefined || item.detail !== undefined) {
    c.info = () => infoDom(item.detail ?? "", item.documentation ?? "");
  }
  if (item.insertText !== undefined) c.apply = item.insertText;
  return c;
}

/** `(property) message: string` → `: string`; a signature keeps its parameters. */
function shortDetail(detail: string, label: string): string {
  const m = /^\([\w ]+\) /.exec(detail);
  const rest = m ? detail.slice(m[0].length) : detail;
  const named = rest.match(new RegExp(`^(?:[\\w$.]+\\.)?${label.replace(/[$]/g, "\\$")}\\??`));
  const tail = named ? rest.slice(named[0].length) : rest;
  return tail.length > 80 ? `${tail.slice(0, 79)}…` : tail;
}

function infoDom(display: string, documentation: string): HTMLElement {
  const dom = document.createElement("div");
  dom.className = "cm-chk-info";
  if (display) {
    const code = document.createElement("code");
    code.className = "cm-chk-signature";
    code.textContent = display;
    dom.append(code);
  }
  if (documentation) {
    const p = document.createElement("div");
    p.className = "cm-chk-doc";
    p.textContent = documentation;
    dom.append(p);
  }
  return dom;
}

/** The completion source: the service's answer, or the static list when it has none. */
export function lsCompletionSource(is: IntelliSense): (ctx: CompletionContext) => Promise<CompletionResult | null> {
  return async (ctx) => {
    const word = ctx.matchBefore(/[\w$]*$/);
    const start = word?.from ?? ctx.pos;
    const before = ctx.state.sliceDoc(Math.max(0, start - 1), start);
    const member = before === ".";
    if (!ctx.explicit && !member && (word === null || word.from === word.to)) return null;
    const abort = new AbortController();
    ctx.addEventListener("abort", () => abort.abort());
    try {
      const answer = await is.completions(ctx.state.doc.toString(), ctx.pos, abort.signal);
      if (ctx.aborted) return null; // the text moved on: a newer request answers
      if (answer.items.length === 0 && !member) return chakratorCompletionSource(ctx);
      return { from: Math.min(answer.from, ctx.pos), options: answer.items.map(toCompletion), validFor: /^[\w$]*$/ };
    } catch {
      if (ctx.aborted) return null;
      return chakratorCompletionSource(ctx); // offline fallback
    }
  };
}

/** Hover: the type and documentation of what is under the pointer. */
function lsHover(is: IntelliSense): Extension {
  return hoverTooltip(async (view, pos) => {
    const doc = view.state.doc;
    let q: LsQuickInfo | null;
    try {
      q = await is.quickInfo(doc.toString(), pos);
    } catch {
      return null;
    }
    if (q === null || view.state.doc !== doc) return null; // stale
    return {
      pos: q.from,
      end: q.to,
      above: true,
      create: () => {
        const dom = infoDom(q.display, q.documentation);
        dom.dataset["testid"] = "hover";
        return { dom };
      },
    };
  }, { hoverTime: 300 });
}

// ---- signature help: a tooltip at the call while the cursor is in its arguments ----

const setSignature = StateEffect.define<Tooltip | null>();
const signatureField = StateField.define<Tooltip | null>({
  create: () => null,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setSignature)) return e.value;
    if (tr.docChanged && value !== null) return { ...value, pos: tr.changes.mapPos(value.pos) };
    return value;
  },
  provide: (f) => showTooltip.from(f),
});

function signatureDom(s: LsSignature): HTMLElement {
  const item = s.items[s.selected] ?? s.items[0];
  const dom = document.createElement("div");
  dom.className = "cm-chk-info cm-chk-sighelp";
  dom.dataset["testid"] = "signature-help";
  if (!item) return dom;
  const code = document.createElement("code");
  code.className = "cm-chk-signature";
  const label = item.label;
  const active = item.parameters[s.argument]?.label;
  const at = active ? label.indexOf(active, label.indexOf("(")) : -1;
  if (active && at >= 0) {
    const b = document.createElement("b");
    b.textContent = active;
    code.append(label.slice(0, at), b, label.slice(at + active.length));
  } else {
    code.textContent = label;
  }
  dom.append(code);
  const doc = item.parameters[s.argument]?.documentation || item.documentation;
  if (doc) {
    const p = document.createElement("div");
    p.className = "cm-chk-doc";
    p.textContent = doc;
    dom.append(p);
  }
  return dom;
}

function lsSignatureHelp(is: IntelliSense): Extension {
  const plugin = ViewPlugin.fromClass(
    class {
      private seq = 0;
      readonly view: EditorView;
      constructor(view: EditorView) {
        this.view = view;
      }
      update(u: ViewUpdate): void {
        if (!u.docChanged && !u.selectionSet) return;
        const open = u.state.field(signatureField) !== null;
        const head = u.state.selection.main.head;
        const typed = u.docChanged ? u.state.sliceDoc(Math.max(0, head - 1), head) : "";
        if (typed === "(" || typed === "," || open) this.ask(u.state, head);
      }
      ask(state: EditorState, pos: number): void {
        const seq = ++this.seq;
        const doc: Text = state.doc;
        is.signature(doc.toString(), pos).then(
          (s) => this.answer(seq, doc, s),
          () => this.answer(seq, doc, null),
        );
      }
      answer(seq: number, doc: Text, s: LsSignature | null): void {
        if (seq !== this.seq || this.view.state.doc !== doc) return; // stale
        const tooltip: Tooltip | null = s === null || s.items.length === 0 ? null : { pos: s.from, above: true, strictSide: false, create: () => ({ dom: signatureDom(s) }) };
        queueMicrotask(() => this.view.dispatch({ effects: setSignature.of(tooltip) }));
      }
    },
  );
  const close = (view: EditorView): boolean => {
    if (view.state.field(signatureField) === null) return false;
    view.dispatch({ effects: setSignature.of(null) });
    return true;
  };
  const open = (view: EditorView): boolean => {
    view.plugin(plugin)?.ask(view.state, view.state.selection.main.head);
    return true;
  };
  return [signatureField, plugin, keymap.of([{ key: "Escape", run: close }, { key: "Mod-Shift-Space", run: open }])];
}

// ---- go to definition and format ----

/** What go-to-definition found outside the current file. */
export type RevealFn = (d: LsDefinition) => void;

const setPeek = StateEffect.define<Tooltip | null>();
const peekField = StateField.define<Tooltip | null>({
  create: () => null,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setPeek)) return e.value;
    return tr.docChanged || tr.selection ? null : value;
  },
  provide: (f) => showTooltip.from(f),
});

function peekDom(d: LsDefinition): HTMLElement {
  const dom = document.createElement("div");
  dom.className = "cm-chk-info cm-chk-peek";
  dom.dataset["testid"] = "definition-peek";
  const head = document.createElement("div");
  head.className = "cm-chk-peek-head";
  head.textContent = `${d.file}:${d.line} (read-only)`;
  const pre = document.createElement("pre");
  pre.textContent = d.preview?.text ?? "";
  dom.append(head, pre);
  return dom;
}

async function goToDefinition(view: EditorView, is: IntelliSense, reveal: RevealFn, pos: number): Promise<void> {
  const doc = view.state.doc;
  let defs: LsDefinition[];
  try {
    defs = await is.definition(doc.toString(), pos);
  } catch {
    return;
  }
  if (view.state.doc !== doc) return; // stale
  const d = defs[0];
  if (!d) return;
  if (!d.readOnly) return reveal(d);
  view.dispatch({ effects: setPeek.of({ pos, above: false, create: () => ({ dom: peekDom(d) }) }) });
}

/** Formats the document with TypeScript's formatter, as one undoable change. */
export async function formatDocument(view: EditorView, is: IntelliSense): Promise<boolean> {
  const doc = view.state.doc;
  let edits: LsFormatEdit[];
  try {
    edits = await is.format(doc.toString());
  } catch {
    return false;
  }
  if (view.state.doc !== doc || edits.length === 0) return false; // stale, or nothing to do
  view.dispatch({ changes: edits.map((e) => ({ from: e.from, to: e.to, insert: e.insert })), userEvent: "input.format" });
  return true;
}

const theme = EditorView.baseTheme({
  ".cm-chk-info": { padding: "4px 8px", maxWidth: "640px", font: "12px var(--chk-mono, monospace)" },
  ".cm-chk-signature": { whiteSpace: "pre-wrap", display: "block" },
  ".cm-chk-doc": { marginTop: "4px", whiteSpace: "pre-wrap", font: "12px var(--chk-sans, sans-serif)", opacity: "0.85" },
  ".cm-chk-peek pre": { margin: "4px 0 0", maxHeight: "220px", overflow: "auto" },
  ".cm-chk-peek-head": { opacity: "0.7" },
});

/**
 * All of it: completion (overriding the language's word list, with the static list as
 * fallback), hover, signature help, F12/Mod-click definition, Shift-Alt-F format.
 */
export function intellisense(is: IntelliSense, reveal: RevealFn): Extension {
  return [
    autocompletion({ override: [lsCompletionSource(is)] }),
    lsHover(is),
    lsSignatureHelp(is),
    peekField,
    Prec.high(keymap.of([
      { key: "Shift-Alt-f", preventDefault: true, run: (view) => (void formatDocument(view, is), true) },
      { key: "F12", preventDefault: true, run: (view) => (void goToDefinition(view, is, reveal, view.state.selection.main.head), true) },
    ])),
    EditorView.domEventHandlers({
      mousedown: (e, view) => {
        if (!(e.ctrlKey || e.metaKey) || e.button !== 0) return false;
        const pos = view.posAtCoords({ x: e.clientX, y: e.clientY });
        if (pos === null) return false;
        void goToDefinition(view, is, reveal, pos);
        return true;
      },
    }),
    theme,
  ];
}
