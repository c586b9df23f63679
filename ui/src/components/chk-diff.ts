/**
 * A unified diff of two file sets (or two texts), one read-only `@codemirror/merge`
 * view per changed file (editor/diff-view.ts), with unchanged runs folded to three
 * lines of context. Used by revisions, conflicts, outside changes and dry runs.
 */
import type { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { css, html, LitElement, nothing } from "lit";
import { repeat } from "lit/directives/repeat.js";
import { diffStats, diffViewState, type DiffStats } from "../editor/diff-view.ts";

/** One changed file: its two texts, its diff's state, and its view once mounted. */
interface FileDiff {
  file: string;
  before: string;
  after: string;
  labels: string;
  state: EditorState;
  stats: DiffStats;
  view: EditorView | undefined;
}

/**
 * Unified diff view.
 * @csspart file - one file's diff
 */
export class ChkDiff extends LitElement {
  static override properties = {
    oldFiles: { attribute: false },
    newFiles: { attribute: false },
    beforeLabel: { type: String, attribute: "before-label" },
    afterLabel: { type: String, attribute: "after-label" },
  };
  /** The old side: files by name. */
  declare oldFiles: Record<string, string>;
  /** The new side: files by name. */
  declare newFiles: Record<string, string>;
  declare beforeLabel: string;
  declare afterLabel: string;
  /** The changed files, by name, sorted; kept across renders while their texts stay. */
  private diffs: FileDiff[] = [];

  constructor() {
    super();
    this.oldFiles = {};
    this.newFiles = {};
    this.beforeLabel = "before";
    this.afterLabel = "after";
  }

  static override styles = css`
    :host { display: block; font: 12px/18px var(--chk-mono); }
    .legend { font: 12px var(--chk-font); color: var(--chk-fg-muted); padding: 4px 0 6px; display: flex; gap: 12px; flex-wrap: wrap; }
    .legend .del { color: var(--chk-error); } .legend .add { color: var(--chk-ok); }
    .legend .keys { margin-left: auto; color: var(--chk-fg-faint); }
    .file { border: 1px solid var(--chk-border); border-radius: 4px; margin-bottom: 10px; overflow: hidden; }
    .name { background: var(--chk-bg-raised); padding: 3px 8px; border-bottom: 1px solid var(--chk-border); display: flex; gap: 8px; }
    .name .st { color: var(--chk-fg-muted); }
    .lines { background: var(--chk-bg-sunken); }
    .lines .cm-editor.cm-focused { outline: 2px solid var(--chk-focus); outline-offset: -2px; }
    .identical { padding: 8px; color: var(--chk-fg-muted); font-family: var(--chk-font); }
  `;

  override willUpdate(): void {
    const labels = `${this.beforeLabel}\n${this.afterLabel}`;
    const known = new Map(this.diffs.map((d) => [d.file, d]));
    const next: FileDiff[] = [];
    for (const file of changedFiles(this.oldFiles, this.newFiles)) {
      const before = this.oldFiles[file] ?? "";
      const after = this.newFiles[file] ?? "";
      const d = known.get(file);
      if (d && d.before === before && d.after === after && d.labels === labels) {
        next.push(d);
        known.delete(file);
        continue;
      }
      const state = diffViewState(before, after, { file, beforeLabel: this.beforeLabel, afterLabel: this.afterLabel });
      next.push({ file, before, after, labels, state, stats: diffStats(state), view: undefined });
    }
    for (const d of known.values()) d.view?.destroy();
    this.diffs = next;
  }

  override render() {
    return html`<div data-testid="diff">
      <div class="legend"><span class="del">− ${this.beforeLabel}</span><span class="add">+ ${this.afterLabel}</span>
        ${this.diffs.length ? html`<span class="keys">F7 / Shift-F7: next / previous change</span>` : nothing}</div>
      ${this.diffs.length === 0 ? html`<div class="identical" data-testid="diff-identical">No differences.</div>` : nothing}
      ${repeat(this.diffs, (d) => d, (d) => html`<div class="file" part="file">
          <div class="name"><span>${d.file}</span><span class="st">+${d.stats.added} −${d.stats.removed}</span></div>
          <div class="lines" .diff=${d}></div>
        </div>`)}
    </div>`;
  }

  /** Mounts a view for each file that has none yet, in the element `render` made for it. */
  override updated(): void {
    for (const host of this.renderRoot.querySelectorAll<HTMLElement & { diff?: FileDiff }>(".lines")) {
      const d = host.diff;
      if (!d || (d.view && host.contains(d.view.dom))) continue;
      d.view?.destroy();
      d.view = new EditorView({ state: d.state, parent: host, root: this.renderRoot as ShadowRoot });
    }
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.diffs.length) this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    for (const d of this.diffs) {
      if (!d.view) continue;
      d.state = d.view.state; // keeps unfolded runs and the cursor for a remount
      d.view.destroy();
      d.view = undefined;
    }
  }
}

/** Names in either set whose texts differ, sorted (identical files are left out). */
function changedFiles(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((f) => a[f] !== b[f]);
}

customElements.define("chk-diff", ChkDiff);
declare global {
  interface HTMLElementTagNameMap {
    "chk-diff": ChkDiff;
  }
}
