/**
 * Dry run: runs the editor's unsaved source against a live resource (picked from
 * GET .../resources) or a pasted one (YAML or JSON), and shows the children and status
 * it would produce, beside what is live as a diff. Nothing is written to the cluster.
 */
import { css, html, LitElement, nothing, type PropertyValues } from "lit";
import type { ApiClient } from "../controllers/api.ts";
import { controls } from "../lib/styles.ts";
import type { DryRunRequest, DryRunResponse, ResourceRef } from "../protocol.ts";
import "./chk-diff.ts";

const PASTE = "__paste__";

/**
 * Dry-run panel.
 * @csspart result - the result area
 */
export class ChkDryRun extends LitElement {
  static override properties = {
    api: { attribute: false },
    reconciler: { type: String },
    files: { attribute: false },
    resources: { state: true },
    target: { state: true },
    yaml: { state: true },
    result: { state: true },
    busy: { state: true },
    error: { state: true },
  };
  declare api: ApiClient | undefined;
  declare reconciler: string;
  /** The editor's (unsaved) files. */
  declare files: Record<string, string>;
  declare resources: ResourceRef[];
  declare target: string;
  declare yaml: string;
  declare result: DryRunResponse | undefined;
  declare busy: boolean;
  declare error: string;

  constructor() {
    super();
    this.api = undefined;
    this.reconciler = "";
    this.files = {};
    this.resources = [];
    this.target = "";
    this.yaml = "";
    this.result = undefined;
    this.busy = false;
    this.error = "";
  }

  static override styles = [
    controls,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; overflow: auto; padding: 8px 10px; gap: 8px; }
      select { flex: 1; min-width: 0; font-family: var(--chk-mono); }
      textarea { width: 100%; height: 120px; resize: vertical; }
      h3 { font-size: 12px; margin: 10px 0 4px; color: var(--chk-fg-muted); text-transform: uppercase; letter-spacing: 0.04em; }
      .summary { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
      .pill { font-size: 11px; padding: 1px 8px; border-radius: 10px; border: 1px solid var(--chk-border); }
      .pill.ok { color: var(--chk-ok); border-color: #4d6b3c; } .pill.bad { color: var(--chk-error); border-color: #8a3d43; }
      .child { font: 12px var(--chk-mono); padding: 2px 0; }
      pre { margin: 0; font: 12px/1.45 var(--chk-mono); background: var(--chk-bg-sunken); border: 1px solid var(--chk-border); border-radius: 4px; padding: 6px 8px; overflow: auto; max-height: 220px; }
      .log { font: 12px var(--chk-mono); } .log .warn { color: var(--chk-warn); } .log .error { color: var(--chk-error); }
      .err { color: var(--chk-error); }
    `,
  ];

  override updated(changed: PropertyValues<this>): void {
    if (changed.has("reconciler") || changed.has("api")) void this.loadResources();
  }

  private async loadResources(): Promise<void> {
    const [ns, name] = this.reconciler.split("/");
    if (!this.api || !ns || !name) return;
    try {
      this.resources = await this.api.resources(ns, name);
      if (!this.target) {
        const r = this.resources[0];
        this.target = r ? `${r.namespace}/${r.name}` : PASTE;
      }
    } catch (err: unknown) {
      this.resources = [];
      this.target = PASTE;
      this.error = `live resources unavailable: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Runs the dry run with the current selection. */
  async run(): Promise<void> {
    if (!this.api || this.busy) return;
    const req: DryRunRequest = { files: this.files };
    if (this.target === PASTE) {
      if (!this.yaml.trim()) {
        this.error = "Paste a resource (YAML or JSON) first.";
        return;
      }
      req.yaml = this.yaml;
    } else {
      const [namespace = "", name = ""] = this.target.split("/");
      req.target = { namespace, name };
    }
    this.busy = true;
    this.error = "";
    try {
      this.result = await this.api.dryRun(req);
    } catch (err: unknown) {
      this.result = undefined;
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    return html`
      <div class="row">
        <select data-testid="dry-run-target" aria-label="Resource to run against" @change=${(e: Event) => (this.target = (e.target as HTMLSelectElement).value)}>
          ${this.resources.map((r) => {
            const v = `${r.namespace}/${r.name}`;
            return html`<option value=${v} ?selected=${v === this.target}>${r.kind} ${v}</option>`;
          })}
          <option value=${PASTE} ?selected=${this.target === PASTE}>Paste YAML…</option>
        </select>
        <button class="primary" data-testid="dry-run-run" ?disabled=${this.busy} @click=${() => void this.run()} title="Run the unsaved source (Ctrl/Cmd-Enter)">
          ${this.busy ? "Running…" : "Run"}</button>
      </div>
      ${this.target === PASTE
        ? html`<textarea data-testid="dry-run-yaml" aria-label="Resource YAML" placeholder=${"apiVersion: example.com/v1\nkind: MyResource\nmetadata:\n  name: demo\nspec:\n  message: hello"}
            .value=${this.yaml} @input=${(e: Event) => (this.yaml = (e.target as HTMLTextAreaElement).value)}
            @keydown=${(e: KeyboardEvent) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void this.run(); }}></textarea>`
        : nothing}
      ${this.error ? html`<div class="err" role="alert" data-testid="dry-run-error">${this.error}</div>` : nothing}
      ${this.result ? this.renderResult(this.result) : html`<div class="muted">Runs the source in the editor, unsaved, against one resource. Nothing is applied.</div>`}
    `;
  }

  private renderResult(r: DryRunResponse) {
    const children = r.children.map((c) => [childName(c), c] as const);
    return html`<div part="result" data-testid="dry-run-result">
      <div class="summary">
        <span class="pill ${r.ok ? "ok" : "bad"}">${r.ok ? "ok" : "failed"}</span>
        <span class="muted">${r.durationMs} ms</span>
        ${r.requeueAfterSeconds !== undefined ? html`<span class="muted">requeue after ${r.requeueAfterSeconds} s</span>` : nothing}
      </div>
      ${r.error ? html`<p class="err">${r.error.reason}: ${r.error.message}</p>` : nothing}
      ${r.diagnostics.length
        ? html`<h3>Diagnostics</h3>${r.diagnostics.map((d) => html`<div class="err mono">${d.file}:${d.line}:${d.column} ${d.message}</div>`)}`
        : nothing}
      <h3>Children (${children.length})</h3>
      ${children.map(([n]) => html`<div class="child" data-testid="dry-run-child">${n}</div>`)}
      ${r.live
        ? html`<h3>Compared with live</h3>
            <chk-diff data-testid="dry-run-diff" before-label="live" after-label="dry run"
              .oldFiles=${asFiles(r.live.children, r.live.status)} .newFiles=${asFiles(r.children, r.status)}></chk-diff>`
        : html`${children.map(([n, c]) => html`<h3>${n}</h3><pre>${pretty(c)}</pre>`)}
            ${r.status ? html`<h3>Status</h3><pre data-testid="dry-run-status">${pretty(r.status)}</pre>` : nothing}`}
      ${r.logs.length
        ? html`<h3>Logs</h3>${r.logs.map((l) => html`<div class="log"><span class=${l.level}>${l.level}</span> ${l.message} ${l.fields ? JSON.stringify(l.fields) : ""}</div>`)}`
        : nothing}
      ${r.events.length ? html`<h3>Events</h3>${r.events.map((e) => html`<div class="log">${e.type} ${e.reason}: ${e.message}</div>`)}` : nothing}
    </div>`;
  }
}

function childName(c: unknown): string {
  const o = (c ?? {}) as { kind?: string; apiVersion?: string; metadata?: { name?: string; namespace?: string } };
  return `${o.kind ?? "?"} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name ?? "?"}`;
}

const NOISE = ["managedFields", "uid", "resourceVersion", "creationTimestamp", "generation", "ownerReferences"];
function clean(c: unknown): unknown {
  if (!c || typeof c !== "object") return c;
  const o = { ...(c as Record<string, unknown>) };
  if (o["metadata"] && typeof o["metadata"] === "object") {
    const m = { ...(o["metadata"] as Record<string, unknown>) };
    for (const k of NOISE) delete m[k];
    o["metadata"] = m;
  }
  return o;
}

function pretty(v: unknown): string {
  return JSON.stringify(v, null, 2);
}

/** Children and status as "files", so the diff view shows one block per object. */
function asFiles(children: unknown[], status: unknown): Record<string, string> {
  const files: Record<string, string> = {};
  for (const c of children) files[childName(c)] = pretty(clean(c));
  if (status !== undefined) files["status"] = pretty(status);
  return files;
}

customElements.define("chk-dry-run", ChkDryRun);
declare global {
  interface HTMLElementTagNameMap {
    "chk-dry-run": ChkDryRun;
  }
}
