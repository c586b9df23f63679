/**
 * The compiler process (see compile-process.ts): one warm ReconcilerCompiler answering
 * requests over IPC, one at a time. `{ t: "compile", id, files }` is answered with
 * `{ t: "compiled", id, result }`. Heartbeat, `ready` and exit on disconnect are
 * child/guard.ts's; the operator's reaper kills it if the operator dies mid-check.
 */
import { guardChild } from "../child/guard.ts";
import { ReconcilerCompiler } from "./compile.ts";

type Request = { t: "compile"; id: number; files: Record<string, string> };

const compiler = new ReconcilerCompiler();
guardChild<Request>((msg) => {
  if (msg.t === "compile") process.send?.({ t: "compiled", id: msg.id, result: compiler.compile(msg.files) });
});
