/**
 * A unified line diff of two file sets (or two texts), with unchanged runs folded to
 * three lines of context. Used by revisions, conflicts, outside changes and dry runs.
 */
import { css, html, LitElement, nothing } from "lit";
import { diffFiles, diffStats, type DiffLine } from "../lib/diff.ts";

const CONTEXT = 3;

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

  constructor() {
    super();
    this.oldFiles = {};
    this.newFiles = {};
    this.beforeLabel = "before";
    this.afterLabel = "after";
  }

  static override styles = css`
    :host { display: block; font: 12px/18px var(--chk-mono); }
    .legend { font: 12px var(--chk-font); color: var(--chk-fg-muted); padding: 4px 0 6px; }
    .legend .del { color: var(--chk-error); } .legend .add { color: var(--chk-ok); }
    .file { border: 1px solid var(--chk-border); border-radius: 4px; margin-bottom: 10px; overflow: hidden; }
    .name { background: var(--chk-bg-raised); padding: 3px 8px; border-bottom: 1px solid var(--chk-border); display: flex; gap: 8px; }
    .name .st { color: var(--chk-fg-muted); }
    .lines { overflow-x: auto; background: var(--chk-bg-sunken); }
    .l { display: flex; min-width: max-content; height: 18px; }
    .n { flex: none; width: 3.5em; color: var(--chk-fg-faint); text-align: right; padding-right: 6px; user-select: none; }
    .op { flex: none; width: 1.5em; text-align: center; user-select: none; }
    .t { white-space: pre; padding-right: 12px; }
    .l.add { background: var(--chk-diff-add); } .l.add .op { color: var(--chk-ok); }
    .l.del { background: var(--chk-diff-del); } .l.del .op { color: var(--chk-error); }
    .fold { color: var(--chk-fg-faint); background: #1d2128; padding: 0 8px; font-style: italic; }
    .identical { padding: 8px; color: var(--chk-fg-muted); font-family: var(--chk-font); }
  `;

  override render() {
    const files = diffFiles(this.oldFiles, this.newFiles);
    return html`<div data-testid="diff">
      <div class="legend"><span class="del">− ${this.beforeLabel}</span> &nbsp; <span class="add">+ ${this.afterLabel}</span></div>
      ${files.length === 0 ? html`<div class="identical" data-testid="diff-identical">No differences.</div>` : nothing}
      ${files.map(({ file, lines }) => {
        const st = diffStats(lines);
        return html`<div class="file" part="file">
          <div class="name"><span>${file}</span><span class="st">+${st.added} −${st.removed}</span></div>
          <div class="lines">${fold(lines).map((l) => (l === null ? html`<div class="fold">⋯</div>` : line(l)))}</div>
        </div>`;
      })}
    </div>`;
  }
}

function line(l: DiffLine) {
  const op = l.op === "add" ? "+" : l.op === "del" ? "−" : " ";
  return html`<div class="l ${l.op}" data-testid=${l.op === "same" ? nothing : `diff-${l.op}`}><span class="n">${l.a ?? ""}</span><span class="n">${l.b ?? ""}</span><span class="op">${op}</span><span class="t">${l.text}</span></div>`;
}

/** Keeps changed lines and CONTEXT lines around them; `null` marks a folded run. */
function fold(lines: DiffLine[]): Array<DiffLine | null> {
  const keep = new Uint8Array(lines.length);
  lines.forEach((l, i) => {
    if (l.op === "same") return;
    for (let k = Math.max(0, i - CONTEXT); k <= Math.min(lines.length - 1, i + CONTEXT); k++) keep[k] = 1;
  });
  const out: Array<DiffLine | null> = [];
  lines.forEach((l, i) => {
    if (keep[i]) out.push(l);
    else if (out[out.length - 1] !== null) out.push(null);
  });
  return out;
}

customElements.define("chk-diff", ChkDiff);
declare global {
  interface HTMLElementTagNameMap {
    "chk-diff": ChkDiff;
  }
}
