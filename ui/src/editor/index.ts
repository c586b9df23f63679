/** The editor's CodeMirror features, each a function returning an `Extension`. */
export { chakratorCompletions, chakratorCompletionSource } from "./completions.ts";
export { crashGuard } from "./crash-guard.ts";
export { serverDiagnostics, toCmDiagnostics, toRange, type ValidateFn } from "./diagnostics.ts";
export { saveKeymap } from "./save-keymap.ts";
export { chakratorTheme } from "./theme.ts";
export { stripTrailingWhitespace, trimTrailingWhitespace } from "./whitespace.ts";
export { formatDocument, intellisense, lsCompletionSource, type IntelliSense, type LsDefinition } from "./intellisense.ts";
