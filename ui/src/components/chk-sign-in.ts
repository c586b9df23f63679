/**
 * Sign-in with a Kubernetes bearer token (when the server's auth is "token"). The
 * token goes to POST /api/session once; the server keeps it in an HttpOnly cookie, so
 * this page never stores it.
 */
import { css, html, LitElement, nothing } from "lit";
import { ApiRequestError, type ApiClient } from "../controllers/api.ts";
import { controls } from "../lib/styles.ts";
import type { Session } from "../protocol.ts";

/** `chk-signed-in`: the server accepted the token. */
export type SignedInEvent = CustomEvent<{ session: Session }>;

/**
 * Sign-in form.
 * @fires chk-signed-in - the token was accepted ({ session })
 */
export class ChkSignIn extends LitElement {
  static override properties = { api: { attribute: false }, error: { state: true }, busy: { state: true } };
  declare api: ApiClient | undefined;
  declare error: string;
  declare busy: boolean;

  constructor() {
    super();
    this.api = undefined;
    this.error = "";
    this.busy = false;
  }

  static override styles = [
    controls,
    css`
      :host { display: grid; place-items: center; height: 100%; }
      form { width: min(520px, 90vw); background: var(--chk-bg-raised); border: 1px solid var(--chk-border); border-radius: 8px; padding: 24px 28px; display: grid; gap: 12px; }
      h1 { margin: 0; font-size: 18px; }
      p { margin: 0; color: var(--chk-fg-muted); }
      textarea { width: 100%; height: 96px; resize: vertical; }
      .err { color: var(--chk-error); background: rgba(240, 113, 120, 0.1); border: 1px solid #8a3d43; padding: 6px 10px; border-radius: 4px; }
      code { font-family: var(--chk-mono); color: var(--chk-fg); }
    `,
  ];

  override render() {
    return html`<form data-testid="sign-in" @submit=${this.submit}>
      <h1>Sign in to Chakrator</h1>
      <p>Paste a Kubernetes bearer token. You act with your own RBAC permissions, e.g. a token from
        <code>kubectl create token &lt;serviceaccount&gt;</code>.</p>
      <textarea name="token" data-testid="sign-in-token" aria-label="Bearer token" placeholder="eyJhbGciOi…" required autofocus
        @keydown=${(e: KeyboardEvent) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.submit(e); }}></textarea>
      ${this.error ? html`<div class="err" role="alert" data-testid="sign-in-error">${this.error}</div>` : nothing}
      <div class="row"><span class="spacer"></span>
        <button class="primary" type="submit" data-testid="sign-in-submit" ?disabled=${this.busy}>${this.busy ? "Signing in…" : "Sign in"}</button>
      </div>
    </form>`;
  }

  private async submit(e: Event): Promise<void> {
    e.preventDefault();
    const token = this.renderRoot.querySelector("textarea")?.value.trim() ?? "";
    if (!token || !this.api) {
      this.error = "Paste a token first.";
      return;
    }
    this.busy = true;
    this.error = "";
    try {
      const session = await this.api.signIn(token);
      this.dispatchEvent(new CustomEvent("chk-signed-in", { detail: { session }, bubbles: true, composed: true }));
    } catch (err: unknown) {
      this.error = err instanceof ApiRequestError && err.status === 401
        ? `The token was refused: ${err.message}`
        : err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
    }
  }
}

customElements.define("chk-sign-in", ChkSignIn);
declare global {
  interface HTMLElementTagNameMap {
    "chk-sign-in": ChkSignIn;
  }
}
