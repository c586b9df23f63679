/**
 * The operator's log, live. Records arrive through `append()` / `dropped()` (the app
 * owns the WebSocket) and are rendered in one animation frame per batch, into a
 * virtual list: only the rows in view (plus a few) are in the DOM, so thousands of
 * records per second do not stall typing. Follow mode keeps the newest row in view;
 * scrolling up pauses it, and "Follow" (or End) resumes.
 */
import { css, html, LitElement, nothing } from "lit";
import { fieldsText, LEVELS, LogBuffer, matches, type LogEntry, type LogFilter } from "../lib/log-buffer.ts";
import { controls } from "../lib/styles.ts";
import type { LogRecord } from "../protocol.ts";

const ROW = 20;
/** Connection states whose name is not what the toolbar should say. */
const CONNECTION_LABEL: Record<string, string> = { denied: "no access to logs" };
const OVERSCAN = 10;

/**
 * Log panel with follow/pause, level, reconciler, resource and text filters.
 * @csspart toolbar - the filter bar
 * @csspart viewport - the scrolling list
 */
export class ChkLogPanel extends LitElement {
  static override properties = {
    reconcilers: { attribute: false },
    connection: { type: String },
    follow: { state: true },
    filter: { state: true },
    first: { state: true },
    height: { state: true },
  };

  /** Known reconcilers ("namespace/name") for the filter, besides those seen in records. */
  declare reconcilers: string[];
  /** Connection state text shown in the toolbar. */
  declare connection: string;
  declare follow: boolean;
  declare filter: LogFilter;
  declare first: number;
  declare height: number;

  private readonly buffer = new LogBuffer(5000);
  private visible: LogEntry[] = [];
  private pending: Array<LogRecord | { dropped: number }> = [];
  private frame = 0;
  private unseen = 0;
  private resizer: ResizeObserver | undefined;

  constructor() {
    super();
    this.reconcilers = [];
    this.connection = "";
    this.follow = true;
    this.filter = { level: "debug", reconciler: "", resource: "", text: "" };
    this.first = 0;
    this.height = 200;
  }

  /** Queues records for the next frame. */
  addRecords(...records: LogRecord[]): void {
    for (const r of records) this.pending.push(r);
    this.schedule();
  }

  /** Queues a "N records dropped" marker. */
  addDropped(count: number): void {
    this.pending.push({ dropped: count });
    this.schedule();
  }

  /** Removes every row. */
  clear(): void {
    this.buffer.clear();
    this.pending = [];
    this.unseen = 0;
    this.refilter();
  }

  /** The number of rows matching the filter (for tests and the status line). */
  get matchingCount(): number {
    return this.visible.length;
  }

  static override styles = [
    controls,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; background: var(--chk-bg-sunken); }
      .toolbar { display: flex; align-items: center; gap: 6px; padding: 4px 8px; border-bottom: 1px solid var(--chk-border); background: var(--chk-bg-raised); flex-wrap: wrap; flex: none; }
      .title { font-weight: 600; font-size: 12px; margin-right: 4px; }
      input[type="search"] { width: 180px; }
      input.resource { width: 140px; }
      .count { font-size: 11px; color: var(--chk-fg-muted); font-variant-numeric: tabular-nums; }
      .conn { font-size: 11px; }
      .conn.open { color: var(--chk-ok); }
      .conn.retrying, .conn.connecting { color: var(--chk-warn); }
      .conn.denied { color: var(--chk-error); }
      .viewport { flex: 1; min-height: 0; overflow: auto; position: relative; font: 12px/20px var(--chk-mono); contain: strict; }
      .spacer { position: relative; width: 100%; }
      .rows { position: absolute; left: 0; right: 0; top: 0; }
      .row { height: 20px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding: 0 8px; display: flex; gap: 10px; }
      .row:hover { background: #20232a; }
      .time { color: var(--chk-fg-faint); flex: none; }
      .lvl { flex: none; width: 42px; text-transform: uppercase; font-weight: 600; font-size: 11px; }
      .lvl.debug { color: var(--chk-debug); } .lvl.info { color: var(--chk-info); }
      .lvl.warn { color: var(--chk-warn); } .lvl.error { color: var(--chk-error); }
      .row.error { background: rgba(240, 113, 120, 0.07); } .row.warn { background: rgba(229, 192, 123, 0.05); }
      .who { color: #c4a7e7; flex: none; max-width: 220px; overflow: hidden; text-overflow: ellipsis; }
      .res { color: #8fbcbb; flex: none; max-width: 220px; overflow: hidden; text-overflow: ellipsis; }
      .msg { color: var(--chk-fg); overflow: hidden; text-overflow: ellipsis; }
      .fields { color: var(--chk-fg-muted); overflow: hidden; text-overflow: ellipsis; }
      .user { color: #e6e8ec; }
      .row.dropped { color: var(--chk-warn); background: rgba(229, 192, 123, 0.1); font-style: italic; }
      .empty { padding: 16px; color: var(--chk-fg-muted); font-family: var(--chk-font); }
      .paused { position: absolute; right: 16px; bottom: 10px; }
      .wrap { position: relative; flex: 1; min-height: 0; display: flex; flex-direction: column; }
    `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    this.resizer = new ResizeObserver(() => {
      const vp = this.viewport;
      if (vp) this.height = vp.clientHeight;
    });
  }

  override firstUpdated(): void {
    const vp = this.viewport;
    if (vp) {
      this.resizer?.observe(vp);
      this.height = vp.clientHeight || 200;
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  private get viewport(): HTMLElement | null {
    return this.renderRoot.querySelector<HTMLElement>(".viewport");
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const batch = this.pending;
      this.pending = [];
      const before = this.visible.length;
      this.buffer.append(batch);
      this.refilter();
      if (!this.follow) this.unseen += Math.max(0, this.visible.length - before);
    });
  }

  private refilter(): void {
    this.visible = this.buffer.entries.filter((e) => matches(e, this.filter));
    this.requestUpdate();
    if (this.follow) void this.updateComplete.then(() => this.toBottom());
  }

  private toBottom(): void {
    const vp = this.viewport;
    if (vp) vp.scrollTop = vp.scrollHeight;
  }

  private onScroll(e: Event): void {
    const vp = e.currentTarget as HTMLElement;
    const first = Math.max(0, Math.floor(vp.scrollTop / ROW) - OVERSCAN);
    if (first !== this.first) this.first = first;
    const atBottom = vp.scrollTop + vp.clientHeight >= vp.scrollHeight - ROW;
    if (atBottom && !this.follow) {
      this.follow = true;
      this.unseen = 0;
    } else if (!atBottom && this.follow) this.follow = false;
  }

  private setFilter(patch: Partial<LogFilter>): void {
    this.filter = { ...this.filter, ...patch };
    this.refilter();
  }

  private toggleFollow(): void {
    this.follow = !this.follow;
    if (this.follow) {
      this.unseen = 0;
      void this.updateComplete.then(() => this.toBottom());
    }
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === "End") {
      e.preventDefault();
      this.follow = true;
      this.unseen = 0;
      this.toBottom();
    }
  }

  override render() {
    const total = this.visible.length;
    const count = Math.ceil(this.height / ROW) + OVERSCAN * 2;
    const first = this.follow ? Math.max(0, total - count) : Math.min(this.first, Math.max(0, total - 1));
    const rows = this.visible.slice(first, first + count);
    const names = [...new Set([...this.reconcilers, ...this.buffer.reconcilers])].sort();
    const f = this.filter;
    return html`
      <div class="toolbar" part="toolbar" role="toolbar" aria-label="Log filters">
        <span class="title">Logs</span>
        <span class="conn ${this.connection}" data-testid="log-connection" data-state=${this.connection || "idle"}
          title=${this.connection === "denied" ? "The server refused the log stream: you may not read any reconciler's namespace" : ""}>● ${CONNECTION_LABEL[this.connection] ?? (this.connection || "idle")}</span>
        <button data-testid="log-follow" aria-pressed=${this.follow ? "true" : "false"} @click=${this.toggleFollow} title="Keep the newest line in view (End)">
          ${this.follow ? "Following" : "Paused"}
        </button>
        <select data-testid="log-level" aria-label="Minimum level" .value=${f.level} @change=${(e: Event) => this.setFilter({ level: (e.target as HTMLSelectElement).value as LogFilter["level"] })}>
          ${LEVELS.map((l) => html`<option value=${l} ?selected=${l === f.level}>${l === "debug" ? "all levels" : `${l}+`}</option>`)}
        </select>
        <select data-testid="log-reconciler" aria-label="Reconciler" @change=${(e: Event) => this.setFilter({ reconciler: (e.target as HTMLSelectElement).value })}>
          <option value="" ?selected=${f.reconciler === ""}>all reconcilers</option>
          ${names.map((n) => html`<option value=${n} ?selected=${n === f.reconciler}>${n}</option>`)}
        </select>
        <input class="resource" data-testid="log-resource" placeholder="resource" aria-label="Resource filter" .value=${f.resource}
          @input=${(e: Event) => this.setFilter({ resource: (e.target as HTMLInputElement).value })} />
        <input type="search" data-testid="log-search" placeholder="Search messages and fields" aria-label="Search logs" .value=${f.text}
          @input=${(e: Event) => this.setFilter({ text: (e.target as HTMLInputElement).value })} />
        <span class="spacer"></span>
        <span class="count" data-testid="log-count">${total} shown${this.buffer.trimmed ? ` · ${this.buffer.trimmed} older trimmed` : ""}${this.buffer.droppedTotal ? ` · ${this.buffer.droppedTotal} dropped` : ""}</span>
        <button data-testid="log-clear" @click=${() => this.clear()} title="Clear the panel">Clear</button>
      </div>
      <div class="wrap">
        <div class="viewport" part="viewport" data-testid="log-viewport" tabindex="0" role="log" aria-label="Operator log" aria-live="off"
          @scroll=${this.onScroll} @keydown=${this.onKey}>
          ${total === 0 ? html`<div class="empty">No log records${this.buffer.entries.length ? " match the filter" : " yet"}.</div>` : nothing}
          <div class="spacer" style="height:${total * ROW}px">
            <div class="rows" style="transform:translateY(${first * ROW}px)">${rows.map((e) => this.row(e))}</div>
          </div>
        </div>
        ${!this.follow && this.unseen > 0
          ? html`<button class="paused primary" @click=${this.toggleFollow}>${this.unseen} new ↓</button>`
          : nothing}
      </div>
    `;
  }

  private row(e: LogEntry) {
    if (e.kind === "dropped") {
      return html`<div class="row dropped" data-testid="log-dropped">⚠ ${e.count} records dropped: the stream fell behind the operator</div>`;
    }
    const r = e.record;
    const fields = fieldsText(r);
    return html`<div class="row ${r.level}" data-testid="log-row" data-level=${r.level} title=${`${r.message}${fields ? `\n${fields}` : ""}`}>
      <span class="time">${r.time.slice(11, 23)}</span>
      <span class="lvl ${r.level}">${r.level}</span>
      ${r.reconciler ? html`<span class="who">${r.reconciler}${r.revision !== undefined ? `@${r.revision}` : ""}</span>` : nothing}
      ${r.resource ? html`<span class="res">${r.resource}</span>` : nothing}
      <span class="msg ${r.source === "user" ? "user" : ""}">${r.message}</span>
      ${fields ? html`<span class="fields">${fields}</span>` : nothing}
    </div>`;
  }
}

customElements.define("chk-log-panel", ChkLogPanel);
declare global {
  interface HTMLElementTagNameMap {
    "chk-log-panel": ChkLogPanel;
  }
}
