/**
 * From a ConfigMap's `data` to the modules the compiler sees, and the content hash
 * that names a revision.
 *
 * Guarantees: only `.ts` keys count (README.md and friends neither compile nor change
 * the hash); text is normalized (a leading BOM dropped, CRLF → LF) so the same code
 * saved from Windows, kubectl or the editor hashes alike; the hash does not depend
 * on key order; the size cap is checked before anything is parsed. Never throws.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { ChakratorCode, diagnosticAt } from "./compile-diagnostics.ts";
import type { Diagnostic } from "./compile-diagnostics.ts";
import { isModuleKey, isSourceKey } from "./source-keys.ts";

/** The entry module's key. */
export const ENTRY = "reconciler.ts";
/** Default cap on the total size of the `.ts` keys: a ConfigMap's own limit. */
export const DEFAULT_MAX_SOURCE_BYTES = 1024 * 1024;
/** What Kubernetes accepts as a ConfigMap key. */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;

/** The `.ts` modules of a source, ready to compile, or the reasons they are not. */
export interface NormalizedSource {
  /** ConfigMap key → normalized text, in key order. */
  modules: Map<string, string>;
  /** sha256 hex of the keys and normalized texts. */
  hash: string;
  /** Errors make the source uncompilable; warnings ride along. */
  diagnostics: Diagnostic[];
}

/** Drops a leading BOM and turns CRLF into LF. */
export function normalizeText(text: string): string {
  const noBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return noBom.includes("\r\n") ? noBom.replace(/\r\n/g, "\n") : noBom;
}

/** sha256 hex over `key, byte length, text` of each module in key order: unambiguous. */
export function hashModules(modules: ReadonlyMap<string, string>): string {
  const h = createHash("sha256");
  for (const key of [...modules.keys()].sort()) {
    const text = modules.get(key) ?? "";
    h.update(`${key}\n${Buffer.byteLength(text, "utf8")}\n`);
    h.update(text, "utf8");
    h.update("\n");
  }
  return h.digest("hex");
}

const sourceWide = (code: number, message: string): Diagnostic => diagnosticAt("", undefined, undefined, code, message);

/**
 * Selects, validates and normalizes the `.ts` keys of `files` (anything: the input
 * is untrusted), checks the size cap and the entry module, and hashes the result.
 */
export function normalizeSource(files: unknown, maxBytes: number): NormalizedSource {
  const diagnostics: Diagnostic[] = [];
  const modules = new Map<string, string>();
  if (typeof files !== "object" || files === null || Array.isArray(files)) {
    diagnostics.push(sourceWide(ChakratorCode.InvalidInput, "The source must be a map from ConfigMap keys to text."));
    return { modules, hash: hashModules(modules), diagnostics };
  }
  let bytes = 0;
  for (const key of Object.keys(files).sort()) {
    if (!isSourceKey(key)) continue;
    const value: unknown = (files as Record<string, unknown>)[key];
    if (!isModuleKey(key)) {
      const message = `${key} is ignored: declaration files are not supported, write a .ts module.`;
      diagnostics.push(diagnosticAt(key, undefined, undefined, ChakratorCode.InvalidInput, message, "warning"));
      continue;
    }
    if (!CONFIGMAP_KEY.test(key)) {
      const message = `"${key}" is not a valid ConfigMap key (letters, digits, "-", "_", ".").`;
      diagnostics.push(sourceWide(ChakratorCode.InvalidInput, message));
      continue;
    }
    if (typeof value !== "string") {
      diagnostics.push(diagnosticAt(key, undefined, undefined, ChakratorCode.InvalidInput, `${key} is not text.`));
      continue;
    }
    bytes += Buffer.byteLength(key, "utf8") + Buffer.byteLength(value, "utf8");
    modules.set(key, normalizeText(value));
  }
  const hash = hashModules(modules);
  if (bytes > maxBytes) {
    const message = `The .ts keys total ${bytes} bytes, more than the ${maxBytes} bytes allowed.`;
    diagnostics.push(sourceWide(ChakratorCode.SourceTooLarge, message));
    return { modules, hash, diagnostics };
  }
  const entry = modules.get(ENTRY);
  if (entry === undefined) {
    const message = `The ConfigMap has no "${ENTRY}" key: it is the entry module and must \`export default\` a Reconciler.`;
    diagnostics.push(diagnosticAt(ENTRY, undefined, undefined, ChakratorCode.MissingEntry, message));
  }
  for (const [key, text] of modules) {
    if (text.trim() !== "") continue;
    // An empty entry cannot be a reconciler; an empty helper module is merely odd.
    const isEntry = key === ENTRY;
    const message = isEntry ? `${key} is empty: it must \`export default\` a Reconciler.` : `${key} is empty.`;
    diagnostics.push(diagnosticAt(key, undefined, undefined, ChakratorCode.EmptyModule, message, isEntry ? "error" : "warning"));
  }
  return { modules, hash, diagnostics };
}

/** Strips spaces and tabs at the end of every line (what the editor's save and rollback do). */
export function stripTrailingWhitespace(text: string): string {
  return text.replace(/[ \t]+$/gm, "");
}

/**
 * Why `kubectl get -o yaml` and `kubectl edit` would show `text` as one double-quoted
 * line full of `\n` escapes instead of a readable `|` block, or `undefined` if they
 * would not. kubectl's YAML printer (sigs.k8s.io/yaml, a go-yaml v2 fork) refuses a
 * block scalar when a line ends in a space, or when the text holds a character it
 * does not count as printable: a tab, a carriage return or another C0 control
 * character, a byte-order mark, or anything outside the Basic Multilingual Plane
 * (emoji). DEL, a C1 control (U+0080–U+009F but U+0085) and U+FFFE/U+FFFF are
 * worse: `kubectl get -o yaml` fails ("control characters are not allowed"), so
 * `fails` is true. The first such place is named (1-based line).
 */
export function kubectlYamlHazard(text: string): { line: number; what: string; fails: boolean } | undefined {
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      continue;
    }
    if (c === 0x20 && (i + 1 === text.length || text.charCodeAt(i + 1) === 0x0a)) return { line, what: "a line ending in spaces", fails: false };
    // DEL, C1 controls (but NEL, a YAML line break) and U+FFFE/U+FFFF make kubectl's printer fail outright.
    if (c === 0x7f || (c >= 0x80 && c <= 0x9f && c !== 0x85)) return { line, what: `the control character ${hex(c)}`, fails: true };
    if (c === 0xfffe || c === 0xffff) return { line, what: `the non-character ${hex(c)}`, fails: true };
    const what =
      c === 0x09 ? "a tab" :
      c === 0x0d ? "a carriage return (CRLF line ends)" :
      c < 0x20 ? `the control character ${hex(c)}` :
      c === 0xfeff ? "a byte-order mark" :
      c >= 0xd800 && c <= 0xdfff ? "a character outside the Basic Multilingual Plane (e.g. an emoji)" :
      undefined;
    if (what !== undefined) return { line, what, fails: false };
  }
  return undefined;
}

function hex(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * The text of a Normal Event explaining why a reconciler ConfigMap's `.ts` keys will
 * look like escaped, quoted lines in `kubectl edit`, or `undefined` when all of them
 * print as block scalars. The source is still accepted: this is advice, not an error.
 */
export function kubectlYamlAdvice(data: Readonly<Record<string, string>>): string | undefined {
  const found: string[] = [];
  for (const key of Object.keys(data).sort()) {
    if (!isSourceKey(key)) continue;
    const value = data[key];
    const hazard = typeof value === "string" ? kubectlYamlHazard(value) : undefined;
    if (hazard !== undefined) found.push(`${key} line ${hazard.line} has ${hazard.what}${hazard.fails ? " (kubectl get -o yaml cannot print it at all)" : ""}`);
  }
  if (found.length === 0) return undefined;
  return (
    `${found.join("; ")}: kubectl get -o yaml and kubectl edit will show ${found.length === 1 ? "that key" : "those keys"} ` +
    "as one double-quoted line with \\n escapes instead of a readable | block, because YAML block scalars cannot hold " +
    "trailing spaces or such characters. The source was accepted as it is. To fix it, remove trailing whitespace " +
    "(the editor's save and rollback do) and use spaces, not tabs."
  );
}
