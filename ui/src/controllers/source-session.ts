/**
 * One open reconciler's source as a ReactiveController: what the server has (`base`,
 * with its `resourceVersion`), what the user is editing (`files`), and the states in
 * between. Guarantees: a save always sends the resourceVersion it was loaded (or last
 * saved) at, so the server answers 409 rather than overwrite an outside edit; an
 * outside edit (a `source-changed` notice with another resourceVersion) is shown, never
 * applied behind the user's back; local edits are only dropped by an explicit choice
 * (reload, take theirs, rollback).
 */
import type { ReactiveController, ReactiveControllerHost } from "lit";
import type { Diagnostic, Notice, ReconcilerSource } from "../protocol.ts";
import { ApiRequestError, ConflictError, InvalidSourceError, type ApiClient } from "./api.ts";
import { isSourceKey } from "../../../operator/src/reconcilers/source-keys.ts";
import { stripTrailingWhitespace } from "../editor/whitespace.ts";

/** What the save indicator shows. */
export type SaveState = "loading" | "saved" | "unsaved" | "saving" | "conflict" | "invalid" | "outside" | "error";

/** A newer version on the server than the one loaded. */
export interface OutsideChange {
  resourceVersion: string;
  by?: string;
}

/** The loaded source, its edits and its save state for one reconciler. */
export class SourceSession implements ReactiveController {
  private readonly host: ReactiveControllerHost;
  private readonly api: ApiClient;
  /** "namespace/name", or "" before the first load. */
  key = "";
  /** The server's copy as of the last load or save (summary fields included). */
  source: ReconcilerSource | undefined;
  /** The files as last loaded or saved. */
  base: Record<string, string> = {};
  /** The files being edited. */
  files: Record<string, string> = {};
  /** The resourceVersion that `base` has on the server; sent with every save. */
  resourceVersion = "";
  /** Bumped whenever `files` is replaced from outside the editor (load, take theirs). */
  generation = 0;
  busy: "" | "loading" | "saving" | "rollback" = "";
  /** Set by a 409: the server's current files. */
  conflict: { files: Record<string, string>; resourceVersion: string } | undefined;
  /** Set by a `source-changed` notice for another resourceVersion. */
  outside: OutsideChange | undefined;
  /** Set by a 422: the diagnostics of the refused save. */
  invalid: Diagnostic[] | undefined;
  /** The last failure, for the status bar. */
  error = "";
  /** Why the last load failed ("" when it did not): its own state, shown over the editor. */
  loadError = "";
  savedAt: Date | undefined;
  /** resourceVersions this editor wrote: their notices are our own echo. */
  private readonly own = new Set<string>();
  private pendingNotices: Notice[] = [];

  constructor(host: ReactiveControllerHost, api: ApiClient) {
    this.host = host;
    this.api = api;
    host.addController(this);
  }

  hostConnected(): void {}

  get dirty(): boolean {
    const a = Object.keys(this.files);
    if (a.length !== Object.keys(this.base).length) return true;
    return a.some((k) => this.files[k] !== this.base[k]);
  }

  get saveState(): SaveState {
    if (this.busy === "loading" && !this.source) return "loading";
    if (this.busy === "saving" || this.busy === "rollback") return "saving";
    if (this.loadError && this.busy !== "loading") return "error";
    if (this.conflict) return "conflict";
    if (this.invalid) return "invalid";
    if (this.outside) return "outside";
    if (this.error && this.dirty) return "error";
    return this.dirty ? "unsaved" : "saved";
  }

  /** Loads `namespace/name`, replacing the edits. */
  async load(namespace: string, name: string): Promise<void> {
    this.key = `${namespace}/${name}`;
    this.busy = "loading";
    this.error = "";
    this.loadError = "";
    this.host.requestUpdate();
    try {
      this.accept(await this.api.source(namespace, name));
    } catch (err: unknown) {
      this.error = message(err);
      this.loadError = this.error;
      // Never leave another reconciler's files under this key: a save would write them here.
      if (this.source && `${this.source.namespace}/${this.source.name}` !== this.key) this.forget();
    } finally {
      this.busy = "";
      this.host.requestUpdate();
    }
  }

  /** Reloads the open reconciler from the server, dropping local edits. */
  reload(): Promise<void> {
    const [ns = "", name = ""] = this.key.split("/");
    return this.load(ns, name);
  }

  /** Records an edit of one file. */
  edit(file: string, text: string): void {
    if (this.files[file] === text) return;
    this.files = { ...this.files, [file]: text };
    if (this.error) this.error = "";
    this.host.requestUpdate();
  }

  /** Saves the edits at the loaded resourceVersion; `force` saves even if it does not compile. */
  async save(force = false): Promise<boolean> {
    if (!this.source || this.busy) return false;
    const [ns = "", name = ""] = this.key.split("/");
    // The editor has trimmed already (ChkEditor.trimAll); this keeps the rule for any caller.
    const files = Object.fromEntries(Object.entries(this.files).map(([k, v]) => [k, isSourceKey(k) ? stripTrailingWhitespace(v) : v]));
    this.busy = "saving";
    this.error = "";
    this.host.requestUpdate();
    try {
      const res = await this.api.save(ns, name, files, this.resourceVersion, force);
      this.own.add(res.resourceVersion);
      this.resourceVersion = res.resourceVersion;
      this.base = files;
      this.source = { ...this.source, resourceVersion: res.resourceVersion, files };
      this.conflict = undefined;
      this.invalid = undefined;
      this.outside = undefined;
      this.savedAt = new Date();
      this.loadError = "";
      return true;
    } catch (err: unknown) {
      if (err instanceof ConflictError) {
        this.conflict = err.current ?? (await this.fetchCurrent());
      } else if (err instanceof InvalidSourceError) {
        this.invalid = err.diagnostics;
      } else {
        this.error = message(err);
      }
      return false;
    } finally {
      this.busy = "";
      this.flushNotices();
      this.host.requestUpdate();
    }
  }

  /** Conflict: drop my edits and take the server's files. */
  takeTheirs(): void {
    const c = this.conflict;
    if (!c) return;
    this.conflict = undefined;
    this.outside = undefined;
    this.replace(c.files, c.resourceVersion);
  }

  /** Conflict: save my edits over the server's, at its new resourceVersion. */
  keepMine(): Promise<boolean> {
    const c = this.conflict;
    if (!c) return Promise.resolve(false);
    this.conflict = undefined;
    this.outside = undefined;
    this.resourceVersion = c.resourceVersion;
    return this.save(false);
  }

  /** Dismisses the 422 view without saving. */
  dismissInvalid(): void {
    this.invalid = undefined;
    this.host.requestUpdate();
  }

  /** Rolls back to a revision (at the loaded resourceVersion), then loads the result. */
  async rollback(revision: number): Promise<boolean> {
    if (!this.source || this.busy) return false;
    const [ns = "", name = ""] = this.key.split("/");
    this.busy = "rollback";
    this.error = "";
    this.host.requestUpdate();
    try {
      const res = await this.api.rollback(ns, name, revision, this.resourceVersion);
      this.own.add(res.resourceVersion);
      this.busy = "";
      await this.load(ns, name);
      return true;
    } catch (err: unknown) {
      if (err instanceof ConflictError) {
        this.outside = { resourceVersion: err.current?.resourceVersion ?? "?" };
        this.error = "rollback refused: the source changed since it was loaded; reload first";
      } else {
        this.error = message(err);
      }
      return false;
    } finally {
      this.busy = "";
      this.flushNotices();
      this.host.requestUpdate();
    }
  }

  /** The server's current files (for "Compare" on an outside change). */
  async fetchCurrent(): Promise<{ files: Record<string, string>; resourceVersion: string } | undefined> {
    const [ns = "", name = ""] = this.key.split("/");
    try {
      const s = await this.api.source(ns, name);
      return { files: s.files, resourceVersion: s.resourceVersion };
    } catch (err: unknown) {
      this.error = message(err);
      return undefined;
    }
  }

  /** Feeds a stream notice; `source-changed` for this reconciler at another version is shown. */
  notice(n: Notice): void {
    if (n.reconciler !== this.key) return;
    if (this.busy) {
      this.pendingNotices.push(n); // our own save may be what changed it: decide after it answers
      return;
    }
    if (n.type === "source-changed") {
      if (n.resourceVersion === this.resourceVersion || this.own.has(n.resourceVersion)) return;
      this.outside = n.by === undefined ? { resourceVersion: n.resourceVersion } : { resourceVersion: n.resourceVersion, by: n.by };
      this.host.requestUpdate();
    }
  }

  /** Dismisses the outside-change banner (the next save will meet a 409). */
  dismissOutside(): void {
    this.outside = undefined;
    this.host.requestUpdate();
  }

  private flushNotices(): void {
    const pending = this.pendingNotices;
    this.pendingNotices = [];
    for (const n of pending) this.notice(n);
  }

  /** Drops the loaded source and edits (after a failed load of another reconciler). */
  private forget(): void {
    this.source = undefined;
    this.conflict = undefined;
    this.outside = undefined;
    this.invalid = undefined;
    this.replace({}, "");
  }

  private accept(src: ReconcilerSource): void {
    this.source = src;
    this.conflict = undefined;
    this.outside = undefined;
    this.invalid = undefined;
    this.replace(src.files, src.resourceVersion);
  }

  private replace(files: Record<string, string>, resourceVersion: string): void {
    this.base = files;
    this.files = files;
    this.resourceVersion = resourceVersion;
    if (this.source) this.source = { ...this.source, files, resourceVersion };
    this.generation++;
    this.host.requestUpdate();
  }
}

function message(err: unknown): string {
  if (err instanceof ApiRequestError) return err.status ? `${err.message} (${err.status} ${err.reason})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
