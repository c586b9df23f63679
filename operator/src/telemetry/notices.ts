/**
 * Editor notices: pushes that are not log lines (a reconciler ConfigMap changed, a
 * revision was accepted or rejected, a reconciler was removed). They travel on a small
 * channel of their own, beside the log bus: few, never filtered by level, never on
 * stdout, and their listeners (the editor's streams, the webhooks' settings) are not
 * log subscribers.
 *
 * Guarantees: `publish` never throws and never waits; a listener that throws is removed
 * and reported through `onListenerError`, so it cannot break the others.
 */
import type { Diagnostic } from "../reconcilers/compile-diagnostics.ts";

/** Pushes to the editor that are not log lines. */
export type Notice =
  | { type: "source-changed"; reconciler: string; resourceVersion: string; by?: string }
  | { type: "revision-accepted"; reconciler: string; revision: number; hash: string }
  | { type: "revision-rejected"; reconciler: string; hash: string; diagnostics: Diagnostic[] }
  | { type: "reconciler-removed"; reconciler: string };

/** The notice channel; see the module comment. */
export class NoticeChannel {
  readonly #listeners = new Set<(notice: Notice) => void>();
  readonly #onListenerError: ((error: unknown, notice: Notice) => void) | undefined;

  constructor(options: { onListenerError?: (error: unknown, notice: Notice) => void } = {}) {
    this.#onListenerError = options.onListenerError;
  }

  /** Sends `notice` to every listener, synchronously. */
  publish(notice: Notice): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(notice);
      } catch (error: unknown) {
        this.#listeners.delete(listener);
        try {
          this.#onListenerError?.(error, notice);
        } catch {
          // The reporter failed too: nothing left to tell.
        }
      }
    }
  }

  /** Calls `onNotice` for every later notice; returns the unsubscribe function. */
  subscribe(onNotice: (notice: Notice) => void): () => void {
    this.#listeners.add(onNotice);
    return () => {
      this.#listeners.delete(onNotice);
    };
  }

  /** Number of listeners (for tests). */
  get listenerCount(): number {
    return this.#listeners.size;
  }
}
