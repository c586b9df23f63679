/**
 * A reconciler's state at a glance: the active revision, a rejected source (with its
 * diagnostics count), and reconcile errors since the operator started.
 */
import { css, html, LitElement, nothing } from "lit";
import type { ReconcilerSummary } from "../protocol.ts";

/**
 * Status badges for one reconciler.
 * @csspart badge - each badge
 */
export class ChkStatusBadge extends LitElement {
  static override properties = { summary: { attribute: false } };
  declare summary: ReconcilerSummary | undefined;

  constructor() {
    super();
    this.summary = undefined;
  }

  static override styles = css`
    :host { display: inline-flex; gap: 4px; align-items: center; }
    .b { font-size: 11px; padding: 1px 7px; border-radius: 10px; border: 1px solid; white-space: nowrap; line-height: 16px; }
    .ok { color: var(--chk-ok); border-color: #4d6b3c; background: rgba(152, 195, 121, 0.08); }
    .none { color: var(--chk-fg-muted); border-color: var(--chk-border); }
    .rej { color: var(--chk-error); border-color: #8a3d43; background: rgba(240, 113, 120, 0.1); }
    .err { color: var(--chk-warn); border-color: #7a6433; background: rgba(229, 192, 123, 0.08); }
  `;

  override render() {
    const s = this.summary;
    if (!s) return nothing;
    const rej = s.lastRejection && (!s.active || s.lastRejection.at >= s.active.acceptedAt) ? s.lastRejection : undefined;
    return html`
      ${s.active
        ? html`<span class="b ok" part="badge" data-testid="badge-active" title=${`hash ${s.active.hash}, accepted ${s.active.acceptedAt}; for ${s.active.for.kind}.${s.active.for.apiVersion}`}>rev ${s.active.number} active</span>`
        : html`<span class="b none" part="badge" data-testid="badge-active">no active revision</span>`}
      ${rej
        ? html`<span class="b rej" part="badge" data-testid="badge-rejected" title=${rej.diagnostics.map((d) => `${d.file}:${d.line}:${d.column} ${d.message}`).join("\n")}>rejected · ${rej.diagnostics.length} ${rej.diagnostics.length === 1 ? "problem" : "problems"}</span>`
        : nothing}
      ${s.counts.errors > 0
        ? html`<span class="b err" part="badge" data-testid="badge-errors" title=${`${s.counts.errors} of ${s.counts.reconciles} reconciles failed`}>${s.counts.errors} errors</span>`
        : nothing}
    `;
  }
}

customElements.define("chk-status-badge", ChkStatusBadge);
declare global {
  interface HTMLElementTagNameMap {
    "chk-status-badge": ChkStatusBadge;
  }
}
