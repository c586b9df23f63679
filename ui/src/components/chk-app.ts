/**
 * The editor application: session and sign-in, the reconciler picker, the source
 * editor with its save states, the side panels (revisions, dry run) and the log panel.
 * State lives in controllers (SourceSession for the open source, LogStreamController
 * for the WebSocket); this element wires them to the views and owns the layout.
 */
import { css, html, LitElement, nothing } from "lit";
import { ApiClient, ApiRequestError, BusyError, SupersededError, UnauthorizedError, type IntelliSenseOp, type IntelliSenseRequest } from "../controllers/api.ts";
import { LogStreamController, type RefusalVerdict } from "../controllers/log-stream.ts";
import { SourceSession } from "../controllers/source-session.ts";
import { controls } from "../lib/styles.ts";
import type { Diagnostic, Notice, ReconcilerSummary, Session } from "../protocol.ts";
import type { ChkEditor } from "./chk-editor.ts";
import type { ChkLogPanel } from "./chk-log-panel.ts";
import { appStyles } from "./chk-app.styles.ts";
import "./chk-conflict.ts";
import "./chk-dry-run.ts";
import "./chk-editor.ts";
import "./chk-log-panel.ts";
import "./chk-problems.ts";
import "./chk-rbac.ts";
import "./chk-reconciler-picker.ts";
import "./chk-revisions.ts";
import "./chk-sign-in.ts";
import "./chk-status-badge.ts";

const FORMAT_ON_SAVE_KEY = "chakrator.formatOnSave";

function readFormatOnSave(): boolean {
  try {
    return localStorage.getItem(FORMAT_ON_SAVE_KEY) === "1";
  } catch {
    return false;
  }
}

/** The save shortcut as this platform spells it. */
const SAVE_KEY = /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘S" : "Ctrl+S";

const SAVE_LABEL = {
  loading: "Loading…",
  saved: "Saved",
  unsaved: "Unsaved changes",
  saving: "Saving…",
  conflict: "Conflict",
  invalid: "Not saved: errors",
  outside: "Changed outside",
  error: "Save failed",
} as const;

/**
 * The whole editor UI.
 * @csspart header - the top bar
 */
export class ChkApp extends LitElement {
  static override properties = {
    session: { state: true },
    items: { state: true },
    selected: { state: true },
    side: { state: true },
    theirs: { state: true },
    comparing: { state: true },
    fatal: { state: true },
    revisionsRefresh: { state: true },
    hideRejection: { state: true },
    editorError: { state: true },
    validationBusy: { state: true },
    formatOnSave: { state: true },
  };
  declare session: Session | undefined;
  declare items: ReconcilerSummary[];
  declare selected: string;
  declare side: "revisions" | "dry-run" | "rbac";
  declare theirs: Record<string, string> | undefined;
  declare comparing: boolean;
  declare fatal: string;
  declare revisionsRefresh: number;
  declare hideRejection: string;
  declare editorError: string;
  /** "validation is busy, retrying in N s" while the server answers 429; "" otherwise. */
  declare validationBusy: string;
  /** Format with TypeScript's formatter before each save (remembered in localStorage). */
  declare formatOnSave: boolean;

  readonly api = new ApiClient();
  readonly source = new SourceSession(this, this.api);
  readonly stream = new LogStreamController(this, {
    onLog: (r) => this.logPanel?.addRecords(r),
    onDropped: (n) => this.logPanel?.addDropped(n),
    onNotice: (n) => this.onNotice(n),
    onRefused: () => this.logAccess(),
  });
  private summaryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by each validation: an older one waiting to retry gives up. */
  private validationSeq = 0;

  constructor() {
    super();
    this.session = undefined;
    this.items = [];
    this.selected = "";
    this.side = "revisions";
    this.theirs = undefined;
    this.formatOnSave = readFormatOnSave();
    this.comparing = false;
    this.fatal = "";
    this.revisionsRefresh = 0;
    this.hideRejection = "";
    this.editorError = "";
    this.validationBusy = "";
  }

  static override styles = [controls, appStyles];

  private get logPanel(): ChkLogPanel | null {
    return this.renderRoot.querySelector("chk-log-panel");
  }
  private get editor(): ChkEditor | null {
    return this.renderRoot.querySelector("chk-editor");
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener("keydown", this.onGlobalKey);
    window.addEventListener("beforeunload", this.onBeforeUnload);
    void this.start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener("keydown", this.onGlobalKey);
    window.removeEventListener("beforeunload", this.onBeforeUnload);
  }

  private async start(): Promise<void> {
    try {
      this.session = await this.api.session();
    } catch (err: unknown) {
      this.fatal = `Cannot reach the Chakrator server: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    if (this.session.auth === "token" && !this.session.signedIn) return;
    this.stream.start();
    await this.loadList();
  }

  private async loadList(): Promise<void> {
    try {
      this.items = await this.api.reconcilers();
      this.fatal = "";
    } catch (err: unknown) {
      this.handleError(err);
      return;
    }
    const want = decodeURIComponent(location.hash.slice(1));
    const keys = this.items.map((s) => `${s.namespace}/${s.name}`);
    const pick = keys.includes(this.selected) ? this.selected : keys.includes(want) ? want : keys[0];
    if (pick && pick !== this.source.key) await this.open(pick);
  }

  private async open(key: string): Promise<void> {
    if (this.source.dirty && !confirm(`Discard unsaved edits to ${this.source.key}?`)) {
      this.requestUpdate();
      return;
    }
    this.selected = key;
    history.replaceState(null, "", `#${encodeURIComponent(key)}`);
    this.theirs = undefined;
    this.comparing = false;
    const [ns = "", name = ""] = key.split("/");
    await this.source.load(ns, name);
  }

  private handleError(err: unknown): void {
    if (err instanceof UnauthorizedError && this.session) {
      this.session = { ...this.session, signedIn: false };
      this.stream.stop();
      return;
    }
    this.fatal = err instanceof Error ? err.message : String(err);
  }

  /**
   * Why the log stream's upgrade failed (the browser only sees close code 1006). Signed
   * out: show sign-in and stop. Signed in but allowed to read no reconciler's source (the
   * server's rule for the stream: `get configmaps` in a reconciler's namespace): no access,
   * stop retrying fast. Anything else (server unreachable, restarting): a real disconnect.
   */
  private async logAccess(): Promise<RefusalVerdict> {
    let session: Session;
    try {
      session = await this.api.session();
    } catch {
      return "retry";
    }
    if (session.auth === "token" && !session.signedIn) {
      this.session = session;
      return "stop";
    }
    if (session.auth === "off") return "retry";
    let items: ReconcilerSummary[];
    try {
      items = await this.api.reconcilers();
    } catch (err: unknown) {
      return err instanceof UnauthorizedError ? "stop" : "retry";
    }
    const perNamespace = new Map(items.map((i) => [i.namespace, i.name] as const));
    // The list shows only reconcilers the person may read: none, so no logs either.
    if (perNamespace.size === 0) return "denied";
    const readable = await Promise.all(
      [...perNamespace].map(([ns, name]) =>
        this.api.source(ns, name).then(
          () => true,
          (err: unknown) => !(err instanceof ApiRequestError && err.status === 403),
        ),
      ),
    );
    return readable.some(Boolean) ? "retry" : "denied";
  }

  private onNotice(n: Notice): void {
    this.source.notice(n);
    if (n.type === "source-changed" && n.reconciler === this.source.key && this.source.outside) {
      this.theirs = undefined;
      this.comparing = false;
    }
    if (n.type === "revision-accepted" || n.type === "revision-rejected") this.revisionsRefresh++;
    // Summaries (badges) follow notices; coalesce bursts into one request.
    clearTimeout(this.summaryTimer);
    this.summaryTimer = setTimeout(() => void this.refreshSummaries(), 300);
  }

  private async refreshSummaries(): Promise<void> {
    try {
      this.items = await this.api.reconcilers();
    } catch (err: unknown) {
      this.handleError(err);
    }
  }

  private readonly onGlobalKey = (e: KeyboardEvent): void => {
    if (!(e.ctrlKey || e.metaKey) || e.key.toLowerCase() !== "s") return;
    if (e.defaultPrevented) return; // the editor's keymap has saved already
    e.preventDefault(); // never the browser's "save page"
    void this.save(e.shiftKey);
  };

  private readonly onBeforeUnload = (e: BeforeUnloadEvent): void => {
    if (this.source.dirty) e.preventDefault();
  };

  private setFormatOnSave(on: boolean): void {
    this.formatOnSave = on;
    try {
      localStorage.setItem(FORMAT_ON_SAVE_KEY, on ? "1" : "0");
    } catch {
      // Storage refused (private mode): the choice lasts for this page only.
    }
  }

  private async save(force: boolean): Promise<void> {
    if (!this.canUpdate) return;
    if (this.formatOnSave) await this.editor?.format();
    this.editor?.trimAll(); // trailing spaces would make kubectl edit show one quoted line
    await this.source.save(force);
    if (this.source.conflict) this.theirs = this.source.conflict.files;
  }

  private async compare(): Promise<void> {
    this.comparing = !this.comparing;
    if (this.comparing && !this.theirs) this.theirs = (await this.source.fetchCurrent())?.files;
  }

  private async rollback(revision: number): Promise<void> {
    if (this.source.dirty && !confirm(`Roll back to revision #${revision}? Your unsaved edits will be replaced.`)) return;
    await this.source.rollback(revision);
    this.revisionsRefresh++;
  }

  private get summary(): ReconcilerSummary | undefined {
    return this.items.find((s) => `${s.namespace}/${s.name}` === this.source.key) ?? this.source.source;
  }

  private get canUpdate(): boolean {
    return this.summary?.permissions.update ?? false;
  }

  /**
   * Diagnostics for `file` with `text`. Only people who may update the reconciler may
   * validate (the server answers 403 otherwise). A 429 is not an error: the status bar
   * counts down the server's Retry-After and the same text is sent again, unless a newer
   * validation started meanwhile. A 409 `Superseded` means a newer one answers instead.
   */
  private validate = async (file: string, text: string): Promise<Diagnostic[]> => {
    if (!this.canUpdate) return [];
    const seq = ++this.validationSeq;
    const [namespace = "", name = ""] = this.source.key.split("/");
    const files = { ...this.source.files, [file]: text };
    for (;;) {
      try {
        const res = await this.api.validate({ namespace, name }, files);
        if (seq === this.validationSeq) this.validationBusy = "";
        return res.diagnostics.filter((d) => d.file === file);
      } catch (err: unknown) {
        if (err instanceof SupersededError) return [];
        if (!(err instanceof BusyError)) {
          if (seq === this.validationSeq) this.validationBusy = "";
          throw err;
        }
        for (let left = err.retryAfterSeconds; left > 0 && seq === this.validationSeq; left--) {
          this.validationBusy = `validation is busy, retrying in ${left} s`;
          await new Promise((r) => setTimeout(r, 1000));
        }
        if (seq !== this.validationSeq) return [];
      }
    }
  };

  /** The operator's language service, about the editor's text of `file` within the session's files. */
  private language = <T,>(op: IntelliSenseOp, file: string, text: string, pos: number | undefined, signal?: AbortSignal): Promise<T> => {
    const [namespace = "", name = ""] = this.source.key.split("/");
    const body: IntelliSenseRequest = { reconciler: { namespace, name }, files: { ...this.source.files, [file]: text }, file };
    if (pos !== undefined) body.pos = pos;
    return this.api.intellisense<T>(op, body, signal);
  };

  override render() {
    if (this.session?.auth === "token" && !this.session.signedIn) {
      return html`<chk-sign-in .api=${this.api} @chk-signed-in=${(e: CustomEvent<{ session: Session }>) => {
        this.session = e.detail.session;
        void this.start();
      }}></chk-sign-in>`;
    }
    const s = this.source;
    const state = s.saveState;
    const summary = this.summary;
    const rejection = summary?.lastRejection && (!summary.active || summary.lastRejection.at >= summary.active.acceptedAt) ? summary.lastRejection : undefined;
    return html`
      <header part="header">
        <span class="logo" aria-hidden="true">◆</span><span class="brand">Chakrator</span>
        <chk-reconciler-picker .items=${this.items} selected=${this.selected} @chk-pick=${(e: CustomEvent<{ key: string }>) => void this.open(e.detail.key)}></chk-reconciler-picker>
        <chk-status-badge .summary=${summary}></chk-status-badge>
        <span class="spacer"></span>
        ${this.validationBusy ? html`<span class="validation-busy" role="status" data-testid="validation-busy">${this.validationBusy}</span>` : nothing}
        <span class="save-state ${state}" data-testid="save-state" data-state=${state} role="status" title=${s.error}>
          ${state === "error" && s.loadError ? `Could not load: ${s.loadError}` : SAVE_LABEL[state]}${state === "saved" && s.resourceVersion ? html` <span class="rv">rv ${s.resourceVersion}</span>` : nothing}</span>
        <button data-testid="format" ?disabled=${!this.canUpdate || !s.source} title="Format document with TypeScript's formatter (Shift-Alt-F)"
          @click=${() => void this.editor?.format()}>Format</button>
        <label class="format-on-save" title="Format with TypeScript's formatter before each save"><input type="checkbox" data-testid="format-on-save"
          .checked=${this.formatOnSave} @change=${(e: Event) => this.setFormatOnSave((e.target as HTMLInputElement).checked)}> on save</label>
        <button class="primary" data-testid="save" ?disabled=${!this.canUpdate || !s.source || state === "saving" || state === "conflict"}
          title=${this.canUpdate ? "Save (Ctrl/Cmd-S)" : "You may not update this ConfigMap"} @click=${() => void this.save(false)}>Save <kbd>${SAVE_KEY}</kbd></button>
        ${this.session?.auth === "token"
          ? html`<span class="user" data-testid="user">${this.session.user?.username ?? ""}</span>
              <button class="ghost" data-testid="sign-out" @click=${this.signOut}>Sign out</button>`
          : nothing}
      </header>
      ${this.session?.auth === "off"
        ? html`<div class="local" data-testid="local-mode" role="note">local mode: no sign-in (loopback only)</div>`
        : nothing}
      ${this.fatal ? html`<div class="fatal" role="alert" data-testid="fatal">${this.fatal}</div>` : nothing}
      <main>
        <section class="code" aria-label="Source">
          ${s.outside && !s.conflict
            ? html`<chk-conflict mode="outside" resource-version=${s.outside.resourceVersion} by=${s.outside.by ?? ""}
                .mine=${s.files} .theirs=${this.theirs} ?comparing=${this.comparing} ?dirty=${s.dirty}
                @chk-reload=${() => void this.source.reload()} @chk-compare=${() => void this.compare()}
                @chk-dismiss=${() => this.source.dismissOutside()}></chk-conflict>`
            : nothing}
          ${s.invalid
            ? html`<chk-problems .diagnostics=${s.invalid} heading=${`Not saved: ${s.invalid.length} ${s.invalid.length === 1 ? "problem" : "problems"}`}
                offer-force ?can-update=${this.canUpdate}
                @chk-save-anyway=${() => void this.save(true)} @chk-dismiss=${() => s.dismissInvalid()}
                @chk-reveal=${this.reveal}></chk-problems>`
            : rejection && this.hideRejection !== rejection.hash
              ? html`<chk-problems .diagnostics=${rejection.diagnostics} heading=${`The operator rejected the saved source (${rejection.diagnostics.length} problems); revision ${summary?.active?.number ?? "–"} keeps running`}
                  @chk-dismiss=${() => (this.hideRejection = rejection.hash)} @chk-reveal=${this.reveal}></chk-problems>`
              : nothing}
          ${this.editorError ? html`<div class="fatal" role="alert">An editor feature crashed and was switched off: ${this.editorError}</div>` : nothing}
          <div class="editor-wrap">
            ${s.loadError && !s.source
              ? html`<div class="load-error" role="alert" data-testid="load-error">
                  <strong>Could not load ${s.key}</strong><span>${s.loadError}</span>
                  <button data-testid="retry-load" @click=${() => void this.source.reload()}>Try again</button></div>`
              : html`<chk-editor .files=${s.files} .base=${s.base} generation=${s.generation} ?readonly=${!this.canUpdate && !!s.source}
              .validate=${this.validate}
              .language=${this.language}
              @chk-change=${(e: CustomEvent<{ file: string; text: string }>) => s.edit(e.detail.file, e.detail.text)}
              @chk-save=${(e: CustomEvent<{ force: boolean }>) => void this.save(e.detail.force)}
              @chk-editor-error=${(e: CustomEvent<{ message: string }>) => (this.editorError = e.detail.message)}></chk-editor>`}
            ${s.conflict
              ? html`<chk-conflict class="overlay" mode="conflict" resource-version=${s.conflict.resourceVersion}
                  .mine=${s.files} .theirs=${s.conflict.files} ?can-update=${this.canUpdate}
                  @chk-take-theirs=${() => s.takeTheirs()} @chk-keep-mine=${() => void s.keepMine()}
                  @chk-compare=${() => {}}></chk-conflict>`
              : nothing}
          </div>
        </section>
        <aside aria-label="Revisions and dry run">
          <div class="side-tabs" role="tablist">
            <button role="tab" data-testid="tab-revisions" aria-selected=${this.side === "revisions" ? "true" : "false"} @click=${() => (this.side = "revisions")}>Revisions</button>
            <button role="tab" data-testid="tab-dry-run" aria-selected=${this.side === "dry-run" ? "true" : "false"} @click=${() => (this.side = "dry-run")}>Dry run</button>
            <button role="tab" data-testid="tab-rbac" aria-selected=${this.side === "rbac" ? "true" : "false"} @click=${() => (this.side = "rbac")}>Permissions</button>
          </div>
          ${this.side === "revisions"
            ? html`<chk-revisions .api=${this.api} reconciler=${s.key} .current=${s.files} ?can-update=${this.canUpdate} refresh=${this.revisionsRefresh}
                @chk-rollback=${(e: CustomEvent<{ revision: number }>) => void this.rollback(e.detail.revision)}></chk-revisions>`
            : this.side === "rbac"
              ? html`<chk-rbac .api=${this.api} reconciler=${s.key} refresh=${this.revisionsRefresh}></chk-rbac>`
              : html`<chk-dry-run .api=${this.api} reconciler=${s.key} .files=${s.files}></chk-dry-run>`}
        </aside>
      </main>
      <chk-log-panel class="logs" connection=${this.stream.state} .reconcilers=${this.items.map((i) => `${i.namespace}/${i.name}`)}></chk-log-panel>
    `;
  }

  private readonly reveal = (e: CustomEvent<{ file: string; line: number; column: number }>): void => {
    this.editor?.reveal(e.detail.file, e.detail.line, e.detail.column);
  };

  private readonly signOut = async (): Promise<void> => {
    try {
      this.session = await this.api.signOut();
    } catch {
      if (this.session) this.session = { ...this.session, signedIn: false };
    }
    this.stream.stop();
  };
}

customElements.define("chk-app", ChkApp);
declare global {
  interface HTMLElementTagNameMap {
    "chk-app": ChkApp;
  }
}
