/**
 * Two sides of one ConfigMap that must not silently overwrite each other. Mode
 * "conflict" (a save answered 409): the server's content with "Take theirs", "Keep mine
 * (overwrite)" and a compare. Mode "outside" (a `source-changed` notice): a banner with
 * "Reload" and "Compare". The app decides; this element only shows and asks.
 */
import { css, html, LitElement, nothing } from "lit";
import { controls } from "../lib/styles.ts";
import "./chk-diff.ts";

/**
 * Conflict view / outside-change banner.
 * @fires chk-take-theirs - conflict: replace my edits with the server's
 * @fires chk-keep-mine - conflict: save my edits at the server's new resourceVersion
 * @fires chk-reload - outside change: load the server's version
 * @fires chk-compare - the user wants the diff (the app fetches `theirs` if needed)
 * @fires chk-dismiss - close without acting
 * @csspart panel - the banner or dialog box
 */
export class ChkConflict extends LitElement {
  static override properties = {
    mode: { type: String, reflect: true },
    mine: { attribute: false },
    theirs: { attribute: false },
    by: { type: String },
    resourceVersion: { type: String, attribute: "resource-version" },
    canUpdate: { type: Boolean, attribute: "can-update" },
    comparing: { type: Boolean },
    dirty: { type: Boolean },
  };
  declare mode: "conflict" | "outside";
  declare mine: Record<string, string>;
  declare theirs: Record<string, string> | undefined;
  declare by: string;
  declare resourceVersion: string;
  declare canUpdate: boolean;
  declare comparing: boolean;
  /** Whether the editor has unsaved edits (Reload would drop them). */
  declare dirty: boolean;

  constructor() {
    super();
    this.mode = "outside";
    this.mine = {};
    this.theirs = undefined;
    this.by = "";
    this.resourceVersion = "";
    this.canUpdate = true;
    this.comparing = false;
    this.dirty = false;
  }

  static override styles = [
    controls,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; }
      .panel { border: 1px solid #7a6433; background: #2b2719; padding: 8px 12px; display: flex; flex-direction: column; gap: 8px; min-height: 0; flex: 1; }
      :host([mode="conflict"]) .panel { border-color: #8a3d43; background: #2d1f23; }
      .head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; flex: none; }
      .icon { color: var(--chk-warn); font-size: 15px; }
      :host([mode="conflict"]) .icon { color: var(--chk-error); }
      .text { flex: 1; min-width: 240px; }
      .body { overflow: auto; min-height: 0; flex: 1; }
    `,
  ];

  private fire(type: string): void {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, composed: true }));
  }

  override render() {
    const conflict = this.mode === "conflict";
    return html`<div class="panel" part="panel" role=${conflict ? "alertdialog" : "alert"} aria-live="assertive"
        data-testid=${conflict ? "conflict" : "outside-change"}>
      <div class="head">
        <span class="icon" aria-hidden="true">⚠</span>
        <span class="text">${conflict
          ? html`<strong>Save conflict.</strong> Someone saved this ConfigMap first (now at resourceVersion ${this.resourceVersion}). Your edits are still here.`
          : html`<strong>Changed outside this editor</strong>${this.by ? ` by ${this.by}` : ""} (resourceVersion ${this.resourceVersion}).
              ${this.dirty ? "Reloading drops your unsaved edits." : "You have no unsaved edits."}`}</span>
        ${conflict
          ? html`
              <button data-testid="take-theirs" @click=${() => this.fire("chk-take-theirs")}>Take theirs</button>
              <button class="danger" data-testid="keep-mine" ?disabled=${!this.canUpdate} @click=${() => this.fire("chk-keep-mine")}>Keep mine (overwrite)</button>`
          : html`<button class="primary" data-testid="reload" @click=${() => this.fire("chk-reload")}>Reload</button>`}
        <button data-testid="compare" aria-pressed=${this.comparing ? "true" : "false"} @click=${() => this.fire("chk-compare")}>Compare</button>
        ${conflict ? nothing : html`<button class="ghost" data-testid="dismiss-outside" title="Keep editing; saving will then meet a conflict" @click=${() => this.fire("chk-dismiss")}>Dismiss</button>`}
      </div>
      ${this.comparing || conflict
        ? html`<div class="body">${this.theirs
            ? html`<chk-diff .oldFiles=${this.theirs} .newFiles=${this.mine} before-label="theirs (server)" after-label="yours (editor)"></chk-diff>`
            : html`<span class="muted">Loading the server's version…</span>`}</div>`
        : nothing}
    </div>`;
  }
}

customElements.define("chk-conflict", ChkConflict);
declare global {
  interface HTMLElementTagNameMap {
    "chk-conflict": ChkConflict;
  }
}
