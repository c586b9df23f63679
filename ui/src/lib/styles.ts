/**
 * Styles shared by the components' shadow roots: buttons, inputs, focus outlines,
 * badges. Colours come from the custom properties in index.html.
 */
import { css } from "lit";

/** Base controls: buttons, inputs, selects, focus rings, small helpers. */
export const controls = css`
  :host { box-sizing: border-box; }
  *, *::before, *::after { box-sizing: inherit; }
  button, .btn {
    font: inherit; font-size: 12px; color: var(--chk-fg); background: var(--chk-bg-hover);
    border: 1px solid var(--chk-border); border-radius: var(--chk-radius); padding: 3px 10px;
    cursor: pointer; line-height: 18px; white-space: nowrap;
  }
  button:hover:not(:disabled) { background: #363b46; border-color: #4a5060; }
  button.primary { background: var(--chk-accent-strong); border-color: var(--chk-accent-strong); color: #fff; }
  button.primary:hover:not(:disabled) { background: #4a9be6; }
  button.danger { border-color: #8a3d43; color: #ffb3b8; }
  button.danger:hover:not(:disabled) { background: #4a2a2e; }
  button.ghost { background: transparent; border-color: transparent; }
  button.ghost:hover:not(:disabled) { background: var(--chk-bg-hover); }
  button[aria-pressed="true"] { background: #2f4b6b; border-color: #3d6591; }
  button:disabled { opacity: 0.45; cursor: not-allowed; }
  input, select, textarea {
    font: inherit; font-size: 12px; color: var(--chk-fg); background: var(--chk-bg-sunken);
    border: 1px solid var(--chk-border); border-radius: var(--chk-radius); padding: 3px 6px;
  }
  textarea { font-family: var(--chk-mono); }
  input::placeholder, textarea::placeholder { color: var(--chk-fg-faint); }
  :is(button, input, select, textarea, a, [tabindex]):focus-visible {
    outline: 2px solid var(--chk-focus); outline-offset: 1px;
  }
  .muted { color: var(--chk-fg-muted); }
  .mono { font-family: var(--chk-mono); }
  .error-text { color: var(--chk-error); }
  .row { display: flex; align-items: center; gap: 6px; }
  .spacer { flex: 1; }
  kbd {
    font: 11px var(--chk-mono); padding: 0 4px; border: 1px solid var(--chk-border);
    border-bottom-width: 2px; border-radius: 3px; color: var(--chk-fg-muted);
  }
`;
