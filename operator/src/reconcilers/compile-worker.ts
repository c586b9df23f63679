/**
 * The compiler process (see compile-process.ts): one warm ReconcilerCompiler answering
 * requests over IPC, one at a time. `{ t: "compile", id, files }` is answered with
 * `{ t: "compiled", id, result }`; `{ t: "language", id, request }` (a language
 * service request, language-service.ts) with `{ t: "language", id, answer }`.
 * Either may carry `kinds` (kinds-compiler.ts): the kind typings versions to use, and
 * module texts; when a version is missing here the answer is
 * `{ t: "need-kinds", id, missing }` and the request comes again with the texts.
 * Heartbeat, `ready` and exit on disconnect are child/guard.ts's; the operator's
 * reaper kills it if the operator dies mid-check.
 */
import { guardChild } from "../child/guard.ts";
import { ReconcilerCompiler, type LanguageRequest } from "./compile.ts";
import type { KindsPayload } from "./kinds-compiler.ts";

type Request =
  | { t: "compile"; id: number; files: Record<string, string>; kinds?: KindsPayload }
  | { t: "language"; id: number; request: LanguageRequest; kinds?: KindsPayload };

const compiler = new ReconcilerCompiler();

/** Takes the payload's texts; the apiVersions whose wanted version is still missing. */
function missingKinds(kinds: KindsPayload | undefined): string[] {
  if (kinds === undefined) return [];
  compiler.setKinds(kinds.texts ?? [], kinds.served);
  const have = compiler.kindVersions();
  return kinds.refs.filter((r) => have[r.apiVersion] !== r.version).map((r) => r.apiVersion);
}

guardChild<Request>((msg) => {
  const missing = missingKinds(msg.kinds);
  if (missing.length > 0) {
    process.send?.({ t: "need-kinds", id: msg.id, missing });
    return;
  }
  if (msg.t === "compile") process.send?.({ t: "compiled", id: msg.id, result: compiler.compile(msg.files) });
  else if (msg.t === "language") process.send?.({ t: "language", id: msg.id, answer: compiler.language(msg.request) });
});
