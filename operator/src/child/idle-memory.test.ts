// The idle collection gives the young generation back: a process that grew its new
// space with a burst of allocations holds it while idle, unless collectWhenIdle runs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { it } from "node:test";

const script = (collect: boolean) => `
import { getHeapSpaceStatistics } from "node:v8";
${collect ? `import { collectWhenIdle } from ${JSON.stringify(new URL("./idle-memory.ts", import.meta.url).href)}; collectWhenIdle({ windowMs: 300 });` : ""}
const committed = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size / 2 ** 20;
let keep = [];
for (let i = 0; i < 2e6; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 50000) keep = []; }
keep = null;
const grown = committed();
// With the collection: wait for it (up to 10 s, for a loaded machine); without: 2 s of idling.
for (let waited = 0; waited < ${collect ? 10_000 : 2_000} && !(${collect} && committed() <= 2); waited += 100) await new Promise((r) => setTimeout(r, 100));
console.log(JSON.stringify({ grown, idle: committed() }));
`;

const run = (collect: boolean) => JSON.parse(execFileSync(process.execPath, ["--max-semi-space-size=4", "--input-type=module", "-e", script(collect)], { encoding: "utf8" })) as { grown: number; idle: number };

it("shrinks the new space V8 grew under load once the process is idle", () => {
  const without = run(false);
  assert.ok(without.grown >= 4, `the burst grew the new space (${without.grown} MiB)`);
  assert.ok(without.idle >= 4, `without it, an idle process keeps it (${without.idle} MiB after 2 s)`);
  const withIt = run(true);
  assert.ok(withIt.grown >= 4, `the burst grew the new space (${withIt.grown} MiB)`);
  assert.ok(withIt.idle <= 2, `with it, the idle process gives it back (${withIt.idle} MiB left)`);
});
