/**
 * The reaper: one tiny shell process per operator process that SIGKILLs the operator's
 * children (sandbox hosts, the compiler) when the operator dies, however it dies.
 *
 * Why not let each child watch its parent: a child learns of its parent's death on its
 * own main thread (the IPC channel's `disconnect` event), and a sandbox host's main
 * thread may be busy at that moment, so it would outlive the operator (issue 10 saw
 * two orphaned hosts at 20 GB and 9.5 GB RSS after a SIGKILL). A watchdog thread in
 * every child costs about 9 MiB each; Linux's PR_SET_PDEATHSIG is out of Node's reach.
 * The reaper costs one `sh` (about 1 MiB) for all children: it reads `+pid` / `-pid`
 * lines on its stdin, a pipe from the operator. When the operator dies, the kernel
 * closes that pipe; `read` then sees end-of-file and the reaper kills every pid still
 * registered. Nothing in the operator has to run for that to happen.
 *
 * Caveat: a pid is removed (`-pid`) as soon as its child's exit is seen, so the reaper
 * never kills a reused pid unless the operator dies in the instant between a child's
 * exit and that line being written.
 */
import { spawn, type ChildProcess } from "node:child_process";

// POSIX sh; "$" expansions are the shell's, so this is a plain string, not a template.
const SCRIPT = [
  "set -f",
  'pids=" "',
  'while IFS= read -r line; do',
  '  case "$line" in',
  '    +*) pids="$pids${line#+} " ;;',
  '    -*) p="${line#-}"',
  '        case "$pids" in *" $p "*) pids="${pids%% $p *} ${pids#* $p }" ;; esac ;;',
  '  esac',
  'done',
  'for p in $pids; do kill -9 "$p" 2>/dev/null; done',
].join("\n");

let reaper: ChildProcess | undefined;

function ensureReaper(): ChildProcess | undefined {
  if (reaper !== undefined && reaper.exitCode === null && reaper.stdin?.writable) return reaper;
  try {
    // Detached: its own process group, so a Ctrl-C to the operator's group does not
    // kill the reaper before it has killed the children.
    const child = spawn("/bin/sh", ["-c", SCRIPT], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    child.on("error", () => {
      if (reaper === child) reaper = undefined;
    });
    child.stdin?.on("error", () => {});
    child.unref();
    // The pipe must not keep the operator's event loop alive.
    (child.stdin as unknown as { unref?(): void } | null)?.unref?.();
    reaper = child;
    return child;
  } catch {
    return undefined;
  }
}

/**
 * Registers a child's pid with the reaper; the returned function unregisters it (call
 * it when the child has exited). Best effort: where `/bin/sh` cannot start, children
 * still exit on their IPC `disconnect`.
 */
export function reapOnExit(pid: number | undefined): () => void {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return () => {};
  ensureReaper()?.stdin?.write(`+${pid}\n`);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (reaper?.stdin?.writable) reaper.stdin.write(`-${pid}\n`);
  };
}

/** The reaper's pid (tests check that it exists and that it does its job). */
export function reaperPid(): number | undefined {
  return reaper?.pid;
}
