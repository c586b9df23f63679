/**
 * The control plane's dead-man switch. `controlplane.ts` starts this detached, with a
 * pipe on stdin, and writes each child pid to it. When the pipe closes — because the
 * parent stopped cleanly or was killed, even with SIGKILL — every pid it was told of
 * is killed and the temporary folder (argv[2]) is removed. A clean stop writes
 * "clean" first, and then it exits without touching anything.
 */
import { rmSync } from "node:fs";

const dir = process.argv[2];
const pids = new Set<number>();
let clean = false;
let buffered = "";

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split("\n");
  buffered = lines.pop() ?? "";
  for (const l of lines) {
    if (l === "clean") clean = true;
    const pid = Number(l);
    if (Number.isInteger(pid) && pid > 0) pids.add(pid);
  }
});
process.stdin.on("close", () => {
  // After a clean stop the pids are dead and may already name other processes.
  if (clean) process.exit(0);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone: the clean path stopped it first.
    }
  }
  if (dir && dir.includes("chakrator-testenv-")) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
process.stdin.resume();
