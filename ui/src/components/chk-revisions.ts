/**
 * The reconciler's accepted revisions, newest first. Selecting one shows its diff
 * against the source in the editor; "Roll back" asks the app to write that revision
 * back (the app sends the loaded resourceVersion, so an outside edit is not lost).
 */
import { css, html, LitElement, nothing, type PropertyValues } from "lit";
import type { ApiClient } from "../controllers/api.ts";
import { controls } from "../lib/styles.ts";
import type { Revision } from "../protocol.ts";
import "./chk-diff.ts";

/** `chk-rollback`: roll back to revision `revision`. */
export type RollbackEvent = CustomEvent<{ revision: number }>;

/**
 * Revision list with diff and rollback.
 * @fires chk-rollback - roll back to a revision ({ revision })
 */
export class ChkRevisions extends LitElement {
  static override properties = {
    api: { attribute: false },
    reconciler: { type: String },
    current: { attribute: false },
    canUpdate: { type: Boolean, attribute: "can-update" },
    refresh: { type: Number },
    items: { state: true },
    selected: { state: true },
    error: { state: true },
  };
  declare api: ApiClient | undefined;
  /** "namespace/name". */
  declare reconciler: string;
  /** The editor's files, diffed against the selected revision. */
  declare current: Record<string, string>;
  declare canUpdate: boolean;
  /** Change to reload the list (e.g. on a revision-accepted notice). */
  declare refresh: number;
  declare items: Revision[];
  declare selected: number | undefined;
  declare error: string;

  constructor() {
    super();
    this.api = undefined;
    this.reconciler = "";
    this.current = {};
    this.canUpdate = false;
    this.refresh = 0;
    this.items = [];
    this.selected = undefined;
    this.error = "";
  }

  static override styles = [
    controls,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; }
      ul { list-style: none; margin: 0; padding: 0; border-bottom: 1px solid var(--chk-border); max-height: 40%; overflow: auto; flex: none; }
      li { display: flex; align-items: center; gap: 8px; padding: 5px 10px; cursor: pointer; border-left: 2px solid transparent; }
      li:hover { background: var(--chk-bg-hover); }
      li[aria-selected="true"] { background: #262c37; border-left-color: var(--chk-accent); }
      li:focus-visible { outline: 2px solid var(--chk-focus); outline-offset: -2px; }
      .num { font: 600 12px var(--chk-mono); min-width: 2.5em; }
      .hash { font: 11px var(--chk-mono); color: var(--chk-fg-muted); }
      .when { font-size: 11px; color: var(--chk-fg-muted); margin-left: auto; }
      .active { font-size: 10px; color: var(--chk-ok); border: 1px solid #4d6b3c; border-radius: 8px; padding: 0 6px; }
      .detail { flex: 1; min-height: 0; overflow: auto; padding: 8px 10px; }
      .head { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; }
      .empty { padding: 12px; color: var(--chk-fg-muted); }
    `,
  ];

  override updated(changed: PropertyValues<this>): void {
    if (changed.has("reconciler") || changed.has("refresh") || changed.has("api")) void this.load();
  }

  private async load(): Promise<void> {
    const [ns, name] = this.reconciler.split("/");
    if (!this.api || !ns || !name) return;
    try {
      this.items = [...(await this.api.revisions(ns, name))].sort((a, b) => b.number - a.number);
      this.error = "";
      if (this.selected !== undefined && !this.items.some((r) => r.number === this.selected)) this.selected = undefined;
    } catch (err: unknown) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  override render() {
    const sel = this.items.find((r) => r.number === this.selected);
    return html`
      ${this.error ? html`<div class="empty error-text">${this.error}</div>` : nothing}
      ${this.items.length === 0 && !this.error ? html`<div class="empty">No revisions yet.</div>` : nothing}
      <ul role="listbox" aria-label="Revisions" data-testid="revisions">
        ${this.items.map(
          (r) => html`<li role="option" tabindex="0" data-testid="revision" data-revision=${r.number}
            aria-selected=${r.number === this.selected ? "true" : "false"}
            @click=${() => (this.selected = r.number)}
            @keydown=${(e: KeyboardEvent) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.selected = r.number; } }}>
            <span class="num">#${r.number}</span><span class="hash">${r.hash.slice(0, 8)}</span>
            ${r.active ? html`<span class="active">active</span>` : nothing}
            <span class="when" title=${r.createdAt}>${ago(r.createdAt)}</span>
          </li>`,
        )}
      </ul>
      ${sel
        ? html`<div class="detail">
            <div class="head">
              <strong>#${sel.number}</strong><span class="muted">vs the editor</span><span class="spacer"></span>
              <button class="danger" data-testid="rollback" ?disabled=${!this.canUpdate}
                title=${this.canUpdate ? `Write revision #${sel.number} back to the ConfigMap` : "You may not update this ConfigMap"}
                @click=${() => this.dispatchEvent(new CustomEvent("chk-rollback", { detail: { revision: sel.number }, bubbles: true, composed: true }))}>
                Roll back to #${sel.number}</button>
            </div>
            <chk-diff .oldFiles=${sel.files} .newFiles=${this.current} before-label=${`revision #${sel.number}`} after-label="editor"></chk-diff>
          </div>`
        : this.items.length ? html`<div class="empty">Select a revision to compare it with the editor.</div>` : nothing}
    `;
  }
}

/** "3 min ago"-style age of an ISO time. */
export function ago(iso: string): string {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return iso;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

customElements.define("chk-revisions", ChkRevisions);
declare global {
  interface HTMLElementTagNameMap {
    "chk-revisions": ChkRevisions;
  }
}
