/**
 * Completion for the reconciler contract (operator/types/chakrator.d.ts): a static
 * list, so it is instant and works offline. Three contexts: after `ctx.log.` the log
 * levels, after `ctx.` the context's members, elsewhere the reconciler's and the
 * result's fields. It adds to the language's own completions (locals, keywords);
 * it does not replace them.
 */
import type { Completion, CompletionContext, CompletionResult } from "@codemirror/autocomplete";
import { EditorState, type Extension } from "@codemirror/state";

const LOG: Completion[] = (["debug", "info", "warn", "error"] as const).map((level) => ({
  label: level,
  type: "method",
  detail: "(message, fields?)",
  info: `Logs at ${level} level, with structured fields; shows in the log panel.`,
  apply: `${level}(`,
}));

const CTX: Completion[] = [
  { label: "log", type: "property", detail: "Logger", info: "debug / info / warn / error with structured fields." },
  { label: "get", type: "method", detail: "(kind, name, namespace?) => Promise<T | undefined>", info: "Reads one cached object of the `for` kind or an `owns` kind.", apply: "get(" },
  { label: "list", type: "method", detail: "(kind, options?) => Promise<T[]>", info: "Lists cached objects of a declared kind (namespace, labels).", apply: "list(" },
  { label: "event", type: "method", detail: "({ type?, reason, message }) => void", info: "Records a Kubernetes Event on the resource being reconciled.", apply: "event(" },
  { label: "now", type: "method", detail: "() => number", info: "The operator's clock, in milliseconds since the epoch.", apply: "now()" },
];

const FIELDS: Completion[] = [
  { label: "for", type: "property", detail: "KindRef", info: "The kind this reconciler owns the status of.", apply: 'for: { apiVersion: "", kind: "" },', boost: 2 },
  { label: "owns", type: "property", detail: "KindRef[]", info: "Kinds of children it may create.", apply: 'owns: [{ apiVersion: "v1", kind: "ConfigMap" }],', boost: 2 },
  { label: "reconcile", type: "method", detail: "(resource, ctx) => ReconcileResult", info: "Returns the desired children and status.", boost: 2 },
  { label: "finalize", type: "method", detail: "(resource, ctx) => FinalizeResult", info: "Runs while the resource is being deleted.", boost: 1 },
  { label: "children", type: "property", detail: "Child[]", info: "The complete set of children; missing ones are pruned." },
  { label: "status", type: "property", detail: "Record<string, JsonValue>", info: "Written to the status subresource." },
  { label: "requeueAfterSeconds", type: "property", detail: "number", info: "Reconcile again after this many seconds." },
  { label: "done", type: "property", detail: "boolean", info: "finalize: true lets the engine remove its finalizer." },
  { label: "Reconciler", type: "type", detail: 'from "chakrator"' },
  { label: "Resource", type: "type", detail: 'from "chakrator"' },
  { label: "Context", type: "type", detail: 'from "chakrator"' },
  { label: "Child", type: "type", detail: 'from "chakrator"' },
];

/** The completion source: contract members for the word before the cursor. */
export function chakratorCompletionSource(context: CompletionContext): CompletionResult | null {
  const log = context.matchBefore(/\bctx\.log\.\w*$/);
  if (log) return { from: log.from + "ctx.log.".length, options: LOG, validFor: /^\w*$/ };
  const ctx = context.matchBefore(/\bctx\.\w*$/);
  if (ctx) return { from: ctx.from + "ctx.".length, options: CTX, validFor: /^\w*$/ };
  const word = context.matchBefore(/\w+$/);
  if (!word && !context.explicit) return null;
  const before = context.state.sliceDoc(Math.max(0, (word?.from ?? context.pos) - 1), word?.from ?? context.pos);
  if (before === ".") return null;
  return { from: word?.from ?? context.pos, options: FIELDS, validFor: /^\w*$/ };
}

/** Contract-aware completions, added beside the language's own sources. */
export function chakratorCompletions(): Extension {
  return EditorState.languageData.of(() => [{ autocomplete: chakratorCompletionSource }]);
}
