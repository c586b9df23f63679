/**
 * The reconciler's permissions: what its active revision's kinds need (the rules
 * `chakrator rbac` prints) and which of them its ServiceAccount lacks now, with the
 * YAML to grant them (Copy, then `kubectl apply -f -`). Reloads when the reconciler or
 * `refresh` changes (e.g. a new revision, which may name other kinds).
 */
import { css, html, LitElement, nothing, type PropertyValues } from "lit";
import type { ApiClient } from "../controllers/api.ts";
import { controls } from "../lib/styles.ts";
import type { ReconcilerRbac } from "../protocol.ts";

/** What the ServiceAccount lacks, and the YAML that grants what the kinds need. */
export class ChkRbac extends LitElement {
  static override properties = {
    api: { attribute: false },
    reconciler: { type: String },
    refresh: { type: Number },
    info: { state: true },
    error: { state: true },
    copied: { state: true },
  };
  declare api: ApiClient | undefined;
  /** "namespace/name". */
  declare reconciler: string;
  /** Change to reload. */
  declare refresh: number;
  declare info: ReconcilerRbac | undefined;
  declare error: string;
  declare copied: boolean;

  constructor() {
    super();
    this.api = undefined;
    this.reconciler = "";
    this.refresh = 0;
    this.info = undefined;
    this.error = "";
    this.copied = false;
  }

  static override styles = [
    controls,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; overflow: auto; padding: 8px 10px; gap: 8px; }
      .ok { color: var(--chk-ok); }
      ul { margin: 0; padding-left: 18px; font: 12px var(--chk-mono); }
      pre { margin: 0; padding: 8px; background: var(--chk-bg-hover); border: 1px solid var(--chk-border); font: 12px var(--chk-mono); overflow: auto; white-space: pre; }
      .head { display: flex; align-items: center; gap: 8px; }
      .muted { color: var(--chk-fg-muted); }
    `,
  ];

  override updated(changed: PropertyValues<this>): void {
    if (changed.has("reconciler") || changed.has("refresh") || changed.has("api")) void this.load();
  }

  private async load(): Promise<void> {
    const [ns, name] = this.reconciler.split("/");
    if (!this.api || !ns || !name) return;
    try {
      this.info = await this.api.rbac(ns, name);
      this.error = "";
    } catch (err: unknown) {
      this.info = undefined;
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  private async copy(): Promise<void> {
    if (!this.info) return;
    try {
      await navigator.clipboard.writeText(this.info.yaml);
      this.copied = true;
      setTimeout(() => { this.copied = false; }, 2000);
    } catch {
      // No clipboard (insecure context): the YAML stays selectable below.
    }
  }

  override render() {
    if (this.error) return html`<div class="error-text" data-testid="rbac-error">${this.error}</div>`;
    const i = this.info;
    if (!i) return html`<div class="muted">Loading…</div>`;
    const where = (m: { namespace?: string }) => (m.namespace ? ` in ${m.namespace}` : " in every namespace");
    return html`
      <div>ServiceAccount <strong data-testid="rbac-sa">${i.serviceAccount}</strong>${i.clusterWide ? html` <span class="muted">(cluster-wide)</span>` : nothing}</div>
      ${i.missing === undefined
        ? html`<div class="muted" data-testid="rbac-unchecked">${i.problem ?? "Its permissions could not be checked."}</div>`
        : i.missing.length === 0
          ? html`<div class="ok" data-testid="rbac-ok">It has every permission its kinds need.</div>`
          : html`<div data-testid="rbac-missing-title">It lacks ${i.missing.length} permission${i.missing.length === 1 ? "" : "s"}:</div>
              <ul data-testid="rbac-missing">${i.missing.map((m) => html`<li>${m.verb} ${m.group ? `${m.resource}.${m.group}` : m.resource}${where(m)}</li>`)}</ul>`}
      <div class="head"><span>What its kinds need</span><span class="spacer"></span>
        <button data-testid="rbac-copy" @click=${() => void this.copy()}>${this.copied ? "Copied" : "Copy YAML"}</button></div>
      <pre data-testid="rbac-yaml">${i.yaml}</pre>
      <div class="muted">Apply it with <code>kubectl apply -f -</code>, or print it from the code: <code>npx chakrator rbac &lt;reconciler&gt;</code>.</div>
    `;
  }
}

customElements.define("chk-rbac", ChkRbac);
declare global {
  interface HTMLElementTagNameMap {
    "chk-rbac": ChkRbac;
  }
}
