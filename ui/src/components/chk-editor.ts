/**
 * The source editor: CodeMirror 6 with TypeScript highlighting, contract completions,
 * inline diagnostics from the server, and Mod-S to save; one tab per `*.ts` key of the
 * ConfigMap. Each file keeps its own EditorState (so undo history survives switching
 * tabs); the states are rebuilt only when `generation` changes (the files were
 * replaced from outside: load, reload, take theirs). Other keys are kept but not shown.
 */
import { javascript } from "@codemirror/lang-javascript";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { css, html, LitElement, type PropertyValues } from "lit";
import { chakratorCompletions, chakratorTheme, crashGuard, formatDocument, intellisense, saveKeymap, serverDiagnostics, trimTrailingWhitespace, type IntelliSense } from "../editor/index.ts";
import { isSourceKey } from "../../../operator/src/reconcilers/source-keys.ts";
import type { IntelliSenseOp } from "../controllers/api.ts";
import { controls } from "../lib/styles.ts";
import type { Diagnostic } from "../protocol.ts";

/** `chk-change`: the user edited `file`. */
export type ChangeEvent = CustomEvent<{ file: string; text: string }>;
/** `chk-save`: Mod-S (force with Shift). */
export type SaveEvent = CustomEvent<{ force: boolean }>;
/** `chk-editor-error`: an editor extension crashed and was switched off. */
export type EditorErrorEvent = CustomEvent<{ message: string }>;

/** Validates `text` as the content of `file` within the current files. */
export type FileValidator = (file: string, text: string) => Promise<Diagnostic[]>;

/** Asks the language service about `text` as the content of `file` within the current files. */
export type LanguageAsker = <T>(op: IntelliSenseOp, file: string, text: string, pos: number | undefined, signal?: AbortSignal) => Promise<T>;

/** The editable keys (the source keys, `isSourceKey`), entry module first. */
export function editableFiles(files: Record<string, string>): string[] {
  return Object.keys(files)
    .filter(isSourceKey)
    .sort((a, b) => (a === "reconciler.ts" ? -1 : b === "reconciler.ts" ? 1 : a.localeCompare(b)));
}

/**
 * CodeMirror editor with file tabs.
 * @fires chk-change - a file's text changed ({ file, text })
 * @fires chk-save - save requested with Mod-S ({ force })
 * @fires chk-editor-error - an extension crashed and was disabled ({ message })
 * @csspart tabs - the tab strip
 * @csspart tab - one file tab
 * @csspart editor - the CodeMirror host
 */
export class ChkEditor extends LitElement {
  static override properties = {
    files: { attribute: false },
    base: { attribute: false },
    generation: { type: Number },
    readonly: { type: Boolean, reflect: true },
    validate: { attribute: false },
    language: { attribute: false },
    active: { state: true },
  };

  declare files: Record<string, string>;
  /** The files as saved, to mark tabs with unsaved edits. */
  declare base: Record<string, string>;
  declare generation: number;
  declare readonly: boolean;
  declare validate: FileValidator | undefined;
  /** The operator's language service; without it, the static completion list only. */
  declare language: LanguageAsker | undefined;
  declare active: string;

  private view: EditorView | undefined;
  private states = new Map<string, EditorState>();
  private builtGeneration = -1;
  private readonly editable = new Compartment();

  constructor() {
    super();
    this.files = {};
    this.base = {};
    this.generation = 0;
    this.readonly = false;
    this.validate = undefined;
    this.language = undefined;
    this.active = "reconciler.ts";
  }

  static override styles = [
    controls,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; background: #1e2027; }
      .tabs { display: flex; gap: 0; background: var(--chk-bg-sunken); border-bottom: 1px solid var(--chk-border); overflow-x: auto; flex: none; }
      .tab {
        border: none; border-radius: 0; background: transparent; color: var(--chk-fg-muted);
        padding: 6px 14px; border-right: 1px solid var(--chk-border); font: 12px var(--chk-mono);
        border-top: 2px solid transparent;
      }
      .tab[aria-selected="true"] { background: #1e2027; color: var(--chk-fg); border-top-color: var(--chk-accent); }
      .tab .dot { color: var(--chk-warn); margin-left: 6px; }
      .tab:focus-visible { outline-offset: -2px; }
      .ro { margin-left: auto; align-self: center; padding: 0 10px; font-size: 11px; color: var(--chk-fg-muted); }
      .cm-host { flex: 1; min-height: 0; overflow: hidden; }
      .cm-host .cm-editor { height: 100%; }
    `,
  ];

  override render() {
    const names = editableFiles(this.files);
    return html`
      <div class="tabs" role="tablist" part="tabs" aria-label="Files" @keydown=${this.onTabKey}>
        ${names.map(
          (f) => html`<button
            class="tab"
            role="tab"
            part="tab"
            data-testid="file-tab"
            data-file=${f}
            aria-selected=${f === this.active ? "true" : "false"}
            tabindex=${f === this.active ? 0 : -1}
            @click=${() => this.show(f)}
          >${f}${this.isDirty(f) ? html`<span class="dot" title="unsaved">●</span>` : ""}</button>`,
        )}
        ${this.readonly ? html`<span class="ro" data-testid="readonly-note">read-only: you may not update this ConfigMap</span>` : ""}
      </div>
      <div class="cm-host" part="editor" data-testid="editor"></div>
    `;
  }

  private isDirty(f: string): boolean {
    return this.base[f] !== undefined && this.files[f] !== this.base[f];
  }

  override firstUpdated(): void {
    const parent = this.renderRoot.querySelector<HTMLElement>(".cm-host");
    if (!parent) return;
    this.view = new EditorView({ parent, root: this.renderRoot as ShadowRoot });
    this.rebuild();
  }

  override updated(changed: PropertyValues<this>): void {
    if (!this.view) return;
    if (changed.has("generation") && this.generation !== this.builtGeneration) this.rebuild();
    if (changed.has("readonly")) {
      for (const [f, s] of this.states) this.states.set(f, s.update({ effects: this.editable.reconfigure(this.editability()) }).state);
      this.view.dispatch({ effects: this.editable.reconfigure(this.editability()) });
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.view?.destroy();
    this.view = undefined;
  }

  /** Shows `file` and moves the cursor to a 1-based line and column. */
  reveal(file: string, line: number, column = 1): void {
    if (!this.view) return;
    this.show(file);
    const doc = this.view.state.doc;
    const l = doc.line(Math.min(Math.max(1, line), doc.lines));
    const pos = Math.min(l.from + Math.max(0, column - 1), l.to);
    this.view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
    this.view.focus();
  }

  /** Focuses the text. */
  focusEditor(): void {
    this.view?.focus();
  }

  /**
   * Strips trailing whitespace from every file (undoable), firing `chk-change` for each
   * file it changed; the save path calls it first so the ConfigMap shows `|` blocks.
   */
  trimAll(): void {
    if (!this.view) return;
    const active = this.view.state;
    const trim = trimTrailingWhitespace(active);
    if (trim) this.view.dispatch(trim); // the update listener fires chk-change
    for (const [f, s] of this.states) {
      if (f === this.active) continue;
      const t = trimTrailingWhitespace(s);
      if (!t) continue;
      const next = s.update(t).state;
      this.states.set(f, next);
      this.emit("chk-change", { file: f, text: next.doc.toString() });
    }
  }

  /** Formats the shown file with TypeScript's formatter (as Shift-Alt-F does); false if nothing changed. */
  async format(): Promise<boolean> {
    const is = this.language === undefined ? undefined : this.languageFor(this.active);
    return this.view !== undefined && is !== undefined ? formatDocument(this.view, is) : false;
  }

  /** The language service for one file (its text is the editor's, the others the session's). */
  private languageFor(file: string): IntelliSense {
    const ask = <T>(op: IntelliSenseOp, text: string, pos?: number, signal?: AbortSignal): Promise<T> => {
      const language = this.language;
      return language === undefined ? Promise.reject(new Error("no language service")) : language<T>(op, file, text, pos, signal);
    };
    return {
      completions: (text, pos, signal) => ask("completions", text, pos, signal),
      quickInfo: (text, pos, signal) => ask("quickinfo", text, pos, signal),
      signature: (text, pos, signal) => ask("signature", text, pos, signal),
      definition: (text, pos) => ask("definition", text, pos),
      format: (text) => ask("format", text),
    };
  }

  /** The name of the file being shown. */
  get activeFile(): string {
    return this.active;
  }

  /** The text of the file being shown (CodeMirror's document, not the DOM). */
  get text(): string {
    return this.view?.state.doc.toString() ?? "";
  }

  private rebuild(): void {
    if (!this.view) return;
    this.builtGeneration = this.generation;
    this.states.clear();
    const names = editableFiles(this.files);
    for (const f of names) this.states.set(f, this.createState(f, this.files[f] ?? ""));
    if (!names.includes(this.active)) this.active = names[0] ?? "";
    const s = this.states.get(this.active);
    this.view.setState(s ?? EditorState.create({ doc: "", extensions: [chakratorTheme(), EditorState.readOnly.of(true)] }));
    this.requestUpdate();
  }

  private show(file: string): void {
    if (!this.view || file === this.active) return;
    const next = this.states.get(file);
    if (!next) return;
    this.states.set(this.active, this.view.state);
    this.active = file;
    this.view.setState(next);
  }

  private editability(): Extension {
    return [EditorState.readOnly.of(this.readonly), EditorView.editable.of(!this.readonly)];
  }

  private createState(file: string, doc: string): EditorState {
    return EditorState.create({
      doc,
      extensions: [
        crashGuard((err) => this.emit("chk-editor-error", { message: err instanceof Error ? err.message : String(err) })),
        saveKeymap((force) => this.emit("chk-save", { force })),
        basicSetup,
        javascript({ typescript: true }),
        chakratorTheme(),
        chakratorCompletions(),
        intellisense(this.languageFor(file), (d) => this.reveal(d.file, d.line, d.column)),
        serverDiagnostics((text) => this.validate?.(file, text) ?? Promise.resolve([])),
        this.editable.of(this.editability()),
        EditorView.contentAttributes.of({ "aria-label": `${file} source`, "data-testid": "editor-content" }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) this.emit("chk-change", { file, text: u.state.doc.toString() });
        }),
      ],
    });
  }

  private onTabKey(e: KeyboardEvent): void {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const names = editableFiles(this.files);
    const i = names.indexOf(this.active);
    const next = names[(i + (e.key === "ArrowRight" ? 1 : names.length - 1)) % names.length];
    if (next) {
      this.show(next);
      void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`[data-file="${next}"]`)?.focus());
    }
  }

  private emit<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
  }
}

customElements.define("chk-editor", ChkEditor);
declare global {
  interface HTMLElementTagNameMap {
    "chk-editor": ChkEditor;
  }
}
