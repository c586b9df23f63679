/**
 * Dry run: runs the editor's unsaved source against a live resource (picked from
 * GET .../resources) or a pasted one (YAML or JSON), and shows the children and status
 * it would produce, beside what is live as a diff. Nothing is written to the cluster.
 */
import { css, html, LitElement, nothing, type PropertyValues } from "lit";
import { BusyError, type ApiClient } from "../controllers/api.ts";
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
    const [rns = "", rname = ""] = this.reconciler.split("/");
    const req: DryRunRequest = { files: this.files, reconciler: { namespace: rns, name: rname } };
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
      this.error = err instanceof BusyError
        ? `dry runs are busy, try again in ${err.retryAfterSeconds} s`
        : err instanceof Error ? err.message : String(err);
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

  private renderDiff(r: DryRunResponse, live: NonNullable<DryRunResponse["live"]>) {
    const { oldFiles, newFiles } = dryRunFiles(r, live);
    return html`<h3>Compared with live</h3>
      <chk-diff data-testid="dry-run-diff" before-label="live" after-label="dry run" .oldFiles=${oldFiles} .newFiles=${newFiles}></chk-diff>`;
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
        ? this.renderDiff(r, r.live)
        : html`${children.map(([n, c]) => html`<h3>${n}</h3><pre>${pretty(c)}</pre>`)}
            ${r.status ? html`<h3>Status</h3><pre data-testid="dry-run-status">${pretty(r.status)}</pre>` : nothing}`}
      ${r.logs.length
        ? html`<h3>Logs</h3>${r.logs.map((l) => html`<div class="log"><span class=${l.level}>${l.level}</span> ${l.message} ${l.fields ? JSON.stringify(l.fields) : ""}</div>`)}`
        : nothing}
      ${r.events.length ? html`<h3>Events</h3>${r.events.map((e) => html`<div class="log">${e.type} ${e.reason}: ${e.message}</div>`)}` : nothing}
      ${r.admission ? this.renderAdmission(r.admission) : nothing}
    </div>`;
  }

  /** What validate and mutate say, as the API server would ask; mutate as a diff of the object. */
  private renderAdmission(a: NonNullable<DryRunResponse["admission"]>) {
    const v = a.validate, m = a.mutate;
    return html`<section data-testid="dry-run-admission">
      <h3>Admission (${a.operation})</h3>
      <div class="summary">
        <span class="pill ${a.allowed ? "ok" : "bad"}" data-testid="dry-run-admission-verdict">${a.allowed ? "admitted" : "refused"}</span>
        ${v && "message" in v && v.message ? html`<span class="err" data-testid="dry-run-admission-message">${v.message}</span>` : nothing}
      </div>
      ${a.error ? html`<p class="err">${a.error}</p>` : nothing}
      ${v && "error" in v ? html`<p class="err">validate failed: ${v.error}</p>` : nothing}
      ${v && "warnings" in v && v.warnings?.length ? v.warnings.map((w) => html`<div class="log"><span class="warn">warning</span> ${w}</div>`) : nothing}
      ${m && "error" in m ? html`<p class="err">mutate failed: ${m.error}</p>` : nothing}
      ${m && "patch" in m
        ? m.patch.length
          ? html`<chk-diff data-testid="dry-run-admission-diff" before-label="as sent" after-label="after mutate" .oldFiles=${{ object: pretty(a.object) }} .newFiles=${{ object: pretty(m.object) }}></chk-diff>`
          : html`<div class="muted">mutate changes nothing</div>`
        : nothing}
    </section>`;
  }
}

function childName(c: unknown): string {
  const o = (c ?? {}) as { kind?: string; apiVersion?: string; metadata?: { name?: string; namespace?: string } };
  return `${o.kind ?? "?"} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name ?? "?"}`;
}

/** Metadata the API server sets; never the reconciler's to control. */
const SERVER_METADATA = ["managedFields", "uid", "resourceVersion", "creationTimestamp", "generation", "ownerReferences", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"];
/** Status fields the engine adds beside the reconciler's own. */
const ENGINE_STATUS = ["conditions", "observedGeneration"];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** `v` without the server-set metadata fields. */
function clean(v: unknown): unknown {
  if (!isObj(v) || !isObj(v["metadata"])) return v;
  const m = { ...v["metadata"] };
  for (const k of SERVER_METADATA) delete m[k];
  return { ...v, metadata: m };
}

/**
 * `live` cut down to the fields present in `desired`, recursively (arrays element by
 * element): what the reconciler controls. Defaults and fields other managers set are
 * not the dry run's business; a field the reconciler sets differently still shows.
 */
export function project(live: unknown, desired: unknown): unknown {
  if (isObj(live) && isObj(desired)) {
    const out: Obj = {};
    for (const k of Object.keys(desired)) if (k in live) out[k] = project(live[k], desired[k]);
    return out;
  }
  if (Array.isArray(live) && Array.isArray(desired)) return live.map((v, i) => (i < desired.length ? project(v, desired[i]) : v));
  return live;
}

/** The live status without the engine's own fields (conditions, observedGeneration). */
function liveStatus(status: unknown): unknown {
  if (!isObj(status)) return status;
  const out = { ...status };
  for (const k of ENGINE_STATUS) delete out[k];
  return out;
}

/** JSON with object keys sorted at every level, so key order never shows as a change. */
export function stable(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (!isObj(x)) return x;
    const out: Obj = {};
    for (const k of Object.keys(x).sort()) out[k] = sort(x[k]);
    return out;
  };
  return JSON.stringify(sort(v), null, 2) ?? "undefined";
}

function pretty(v: unknown): string {
  return stable(v);
}

/** Identity of a child: apiVersion, kind, namespace (when set) and name. */
function sameObject(a: unknown, b: unknown): boolean {
  const x = (a ?? {}) as { kind?: string; apiVersion?: string; metadata?: { name?: string; namespace?: string } };
  const y = (b ?? {}) as typeof x;
  if (x.kind !== y.kind || x.apiVersion !== y.apiVersion || x.metadata?.name !== y.metadata?.name) return false;
  const nx = x.metadata?.namespace, ny = y.metadata?.namespace;
  return !nx || !ny || nx === ny;
}

/**
 * The live side and the dry-run side as "files" (one block per object, then status),
 * normalized so that an unchanged child diffs as identical: keys sorted, server-set
 * metadata dropped, each live child projected onto the fields of the desired one it
 * matches, the engine's status fields dropped.
 */
export function dryRunFiles(desired: { children: unknown[]; status?: unknown }, live: { children: unknown[]; status?: unknown }): { oldFiles: Record<string, string>; newFiles: Record<string, string> } {
  const newFiles: Record<string, string> = {};
  const oldFiles: Record<string, string> = {};
  for (const c of desired.children) newFiles[childName(c)] = pretty(clean(c));
  for (const c of live.children) {
    const match = desired.children.find((d) => sameObject(d, c));
    if (match) oldFiles[childName(match)] = pretty(project(clean(c), clean(match)));
    else oldFiles[childName(c)] = pretty(clean(c));
  }
  if (desired.status !== undefined) newFiles["status"] = pretty(desired.status);
  const status = liveStatus(live.status);
  const engineOnly = isObj(status) && Object.keys(status).length === 0 && desired.status === undefined;
  if (status !== undefined && !engineOnly) oldFiles["status"] = pretty(status);
  return { oldFiles, newFiles };
}

customElements.define("chk-dry-run", ChkDryRun);
declare global {
  interface HTMLElementTagNameMap {
    "chk-dry-run": ChkDryRun;
  }
}
