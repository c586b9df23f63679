/**
 * The compiler process (see compile-process.ts): one warm ReconcilerCompiler answering
 * `{ id, files }` with `{ id, result }` over IPC, one request at a time. Exits when
 * the operator goes away (IPC channel closed).
 */
import { ReconcilerCompiler } from "./compile.ts";

const compiler = new ReconcilerCompiler();
process.on("message", (msg: { id: number; files: Record<string, string> }) => {
  process.send?.({ id: msg.id, result: compiler.compile(msg.files) });
});
process.on("disconnect", () => process.exit(0));
