/**
 * chk-app's layout: a header, optional banners, the editor beside a side panel, and
 * the log panel below. Sized for a 1280x720 laptop screen and up.
 */
import { css } from "lit";

/** The application shell's styles. */
export const appStyles = css`
  :host { display: grid; grid-template-rows: auto auto auto minmax(0, 1fr) minmax(150px, 32vh); height: 100vh; overflow: hidden; }
  header { display: flex; align-items: center; gap: 10px; padding: 0 12px; height: 42px; background: var(--chk-bg-raised); border-bottom: 1px solid var(--chk-border); }
  .logo { color: var(--chk-accent); font-size: 16px; }
  .brand { font-weight: 650; letter-spacing: 0.02em; margin-right: 8px; }
  .save-state { font-size: 12px; display: inline-flex; align-items: center; gap: 6px; color: var(--chk-fg-muted); }
  .save-state::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
  .save-state.saved { color: var(--chk-ok); }
  .save-state.unsaved, .save-state.outside { color: var(--chk-warn); }
  .save-state.saving, .save-state.loading { color: var(--chk-info); }
  .save-state.conflict, .save-state.invalid, .save-state.error { color: var(--chk-error); }
  .save-state .rv { color: var(--chk-fg-faint); font-family: var(--chk-mono); font-size: 11px; }
  .validation-busy { font-size: 12px; color: var(--chk-warn); }
  .user { font-size: 12px; color: var(--chk-fg-muted); }
  .local { background: #1f2a36; color: #a9cdf0; border-bottom: 1px solid #2d4257; padding: 3px 12px; font-size: 12px; }
  .local::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%; background: #61afef; margin-right: 8px; vertical-align: 1px; }
  button.primary kbd { color: #dbeafe; border-color: rgba(255, 255, 255, 0.35); margin-left: 4px; }
  .fatal { background: #3a1f24; color: #ffc2c6; padding: 6px 12px; border-bottom: 1px solid #8a3d43; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) clamp(300px, 30vw, 440px); min-height: 0; grid-row: 4; }
  .code { display: flex; flex-direction: column; min-height: 0; min-width: 0; overflow: hidden; border-right: 1px solid var(--chk-border); }
  .code > chk-conflict { flex: none; max-height: 55%; }
  .code > chk-problems { flex: none; }
  chk-sign-in { grid-row: 1 / -1; }
  .editor-wrap { position: relative; flex: 1; min-height: 0; display: flex; flex-direction: column; }
  chk-editor { flex: 1; min-height: 0; }
  .load-error { flex: 1; display: flex; flex-direction: column; align-items: flex-start; gap: 8px; padding: 24px; background: #1e2027; color: #ffc2c6; }
  .load-error span { font-family: var(--chk-mono); font-size: 12px; white-space: pre-wrap; word-break: break-word; }
  chk-conflict.overlay { position: absolute; inset: 0; z-index: 5; }
  aside { display: flex; flex-direction: column; min-height: 0; background: var(--chk-bg); }
  .side-tabs { display: flex; border-bottom: 1px solid var(--chk-border); background: var(--chk-bg-sunken); flex: none; }
  .side-tabs button { border: none; border-radius: 0; background: transparent; color: var(--chk-fg-muted); padding: 7px 14px; border-bottom: 2px solid transparent; }
  .side-tabs button[aria-selected="true"] { color: var(--chk-fg); border-bottom-color: var(--chk-accent); background: var(--chk-bg); }
  .side-tabs button:focus-visible { outline-offset: -2px; }
  aside > :not(.side-tabs) { flex: 1; min-height: 0; }
  .logs { grid-row: 5; border-top: 1px solid var(--chk-border); min-height: 0; }
`;
