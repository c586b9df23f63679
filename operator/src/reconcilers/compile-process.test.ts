// The compiler process: same results as in-process, and a slow or dying type-check
// becomes a failed result, never a hang, with the next compile working again.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { sampleSource } from "../../testenv/index.ts";
import { ReconcilerCompiler } from "./compile.ts";
import { CompilerProcess } from "./compile-process.ts";

describe("CompilerProcess", () => {
  const compiler = new CompilerProcess({ timeoutMs: 5_000 });
  after(() => compiler.close());

  it("gives the same result as the in-process compiler", async () => {
    const files = sampleSource("01-message");
    const remote = await compiler.compile(files);
    const local = new ReconcilerCompiler().compile(files);
    assert.equal(remote.ok, true);
    assert.deepEqual(remote, local);
    const broken = await compiler.compile({ "reconciler.ts": "export default {\n  for: 1,\n" });
    assert.equal(broken.ok, false);
    assert.ok(broken.diagnostics.some((d) => d.file === "reconciler.ts" && d.line >= 2));
  });

  it("serves the operator's own revisions before queued editor work", async () => {
    const files = sampleSource("01-message");
    const order: string[] = [];
    const editor = Array.from({ length: 5 }, (_, i) => compiler.compile({ ...files, "note.ts": `export const n = ${i};` }, { lane: "editor" }).then(() => order.push(`editor-${i}`)));
    // Queued after five editor requests, answered right after the one that is running.
    const operator = compiler.compile(files).then(() => order.push("operator"));
    assert.deepEqual(compiler.waiting, { operator: 1, editor: 4 });
    await Promise.all([...editor, operator]);
    assert.deepEqual(order, ["editor-0", "operator", "editor-1", "editor-2", "editor-3", "editor-4"]);
  });

  it("turns a type-check over the deadline into a failed result and recovers", async () => {
    const slow = new CompilerProcess({ timeoutMs: 1 });
    try {
      const r = await slow.compile(sampleSource("01-message"));
      assert.equal(r.ok, false);
      assert.match(r.diagnostics[0]!.message, /longer than 1 ms/);
    } finally {
      slow.close();
    }
  });

  it("gives its memory back after idling, and starts again on demand", async () => {
    const idle = new CompilerProcess({ idleMs: 100 });
    try {
      assert.equal((await idle.compile(sampleSource("01-message"))).ok, true);
      const pid = idle.pid!;
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(idle.pid, undefined);
      assert.throws(() => process.kill(pid, 0), "the idle compiler process exited");
      assert.equal((await idle.compile(sampleSource("01-message"))).ok, true);
    } finally {
      idle.close();
    }
  });

  it("survives kill -9 of the compiler process", async () => {
    await compiler.compile(sampleSource("01-message"));
    const pid = compiler.pid!;
    const pending = compiler.compile({ "reconciler.ts": `${"const a = [".repeat(300)}${"]".repeat(300)};\nexport default {};` });
    process.kill(pid, "SIGKILL");
    const r = await pending;
    assert.equal(r.ok, false);
    const again = await compiler.compile(sampleSource("01-message"));
    assert.equal(again.ok, true);
    assert.notEqual(compiler.pid, pid);
  });
});
