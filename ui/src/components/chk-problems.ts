/**
 * A list of diagnostics (line, column, message) that jumps to the spot on click. Shown
 * when a save is refused with 422 (then with "Save anyway") and for a source the
 * operator rejected.
 */
import { css, html, LitElement, nothing } from "lit";
import { controls } from "../lib/styles.ts";
import type { Diagnostic } from "../protocol.ts";

/** `chk-reveal`: show this spot in the editor. */
export type RevealEvent = CustomEvent<{ file: string; line: number; column: number }>;

/**
 * Diagnostics list.
 * @fires chk-reveal - a diagnostic was chosen ({ file, line, column })
 * @fires chk-save-anyway - save despite the diagnostics (force)
 * @fires chk-dismiss - close the list
 */
export class ChkProblems extends LitElement {
  static override properties = {
    diagnostics: { attribute: false },
    heading: { type: String },
    offerForce: { type: Boolean, attribute: "offer-force" },
    canUpdate: { type: Boolean, attribute: "can-update" },
  };
  declare diagnostics: Diagnostic[];
  declare heading: string;
  declare offerForce: boolean;
  declare canUpdate: boolean;

  constructor() {
    super();
    this.diagnostics = [];
    this.heading = "";
    this.offerForce = false;
    this.canUpdate = true;
  }

  static override styles = [
    controls,
    css`
      :host { display: block; }
      .box { border: 1px solid #8a3d43; background: #2d1f23; padding: 6px 12px; }
      .head { display: flex; align-items: center; gap: 8px; }
      ul { list-style: none; margin: 6px 0 0; padding: 0; max-height: 140px; overflow: auto; }
      li button { all: unset; cursor: pointer; display: block; width: 100%; font: 12px/1.6 var(--chk-mono); padding: 0 4px; border-radius: 3px; }
      li button:hover { background: rgba(255, 255, 255, 0.05); }
      li button:focus-visible { outline: 2px solid var(--chk-focus); }
      .loc { color: var(--chk-fg-muted); margin-right: 8px; }
      .sev-error { color: var(--chk-error); } .sev-warning { color: var(--chk-warn); }
    `,
  ];

  override render() {
    const n = this.diagnostics.length;
    return html`<div class="box" role="alert" data-testid="problems">
      <div class="head">
        <strong>${this.heading || `${n} ${n === 1 ? "problem" : "problems"}`}</strong>
        <span class="spacer"></span>
        ${this.offerForce
          ? html`<button class="danger" data-testid="save-anyway" ?disabled=${!this.canUpdate}
              title="Save it anyway: the operator will reject it and keep running the last good revision"
              @click=${() => this.fire("chk-save-anyway")}>Save anyway</button>`
          : nothing}
        <button class="ghost" data-testid="dismiss-problems" @click=${() => this.fire("chk-dismiss")} aria-label="Close">✕</button>
      </div>
      <ul>${this.diagnostics.map(
        (d) => html`<li><button data-testid="problem" @click=${() => this.fire("chk-reveal", { file: d.file, line: d.line, column: d.column })}>
          <span class="sev-${d.severity}">●</span> <span class="loc">${d.file}:${d.line}:${d.column}</span>${d.message}<span class="loc"> TS${d.code}</span>
        </button></li>`,
      )}</ul>
    </div>`;
  }

  private fire(type: string, detail?: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

customElements.define("chk-problems", ChkProblems);
declare global {
  interface HTMLElementTagNameMap {
    "chk-problems": ChkProblems;
  }
}
