/**
 * Chooses the open reconciler when there are several (a single one is just shown).
 */
import { css, html, LitElement } from "lit";
import { controls } from "../lib/styles.ts";
import type { ReconcilerSummary } from "../protocol.ts";

/** `chk-pick`: the user chose the reconciler `key` ("namespace/name"). */
export type PickEvent = CustomEvent<{ key: string }>;

/**
 * Reconciler picker.
 * @fires chk-pick - a reconciler was chosen ({ key })
 */
export class ChkReconcilerPicker extends LitElement {
  static override properties = { items: { attribute: false }, selected: { type: String } };
  declare items: ReconcilerSummary[];
  declare selected: string;

  constructor() {
    super();
    this.items = [];
    this.selected = "";
  }

  static override styles = [
    controls,
    css`
      :host { display: inline-flex; align-items: center; }
      select { font: 13px var(--chk-mono); padding: 3px 6px; max-width: 320px; }
      .one { font: 13px var(--chk-mono); }
    `,
  ];

  override render() {
    if (this.items.length === 0) return html`<span class="muted" data-testid="reconciler-none">no reconcilers</span>`;
    if (this.items.length === 1) {
      const s = this.items[0];
      return html`<span class="one" data-testid="reconciler-name">${s?.namespace}/${s?.name}</span>`;
    }
    return html`<select data-testid="reconciler-picker" aria-label="Reconciler" @change=${this.onChange}>
      ${this.items.map((s) => {
        const key = `${s.namespace}/${s.name}`;
        const flag = s.lastRejection ? " ⚠" : s.counts.errors ? " •" : "";
        return html`<option value=${key} ?selected=${key === this.selected}>${key}${flag}</option>`;
      })}
    </select>`;
  }

  private onChange(e: Event): void {
    const key = (e.target as HTMLSelectElement).value;
    this.dispatchEvent(new CustomEvent("chk-pick", { detail: { key }, bubbles: true, composed: true }));
  }
}

customElements.define("chk-reconciler-picker", ChkReconcilerPicker);
declare global {
  interface HTMLElementTagNameMap {
    "chk-reconciler-picker": ChkReconcilerPicker;
  }
}
