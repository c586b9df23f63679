/**
 * Gives memory back when a process goes idle. V8 grows the young generation under load
 * (up to twice `--max-semi-space-size`) and keeps it while idle: nothing allocates, so
 * no collection runs that would shrink it. Measured in the idle operator: 8 MiB of new
 * space committed, 2 MiB of it in use (operator/bench/MEMORY.md). So once per idle
 * period (event-loop utilisation under `threshold` over a window of `windowMs`, after
 * a window that was busier) this runs one full collection, which shrinks the new space
 * to its minimum; the next burst of work grows it again. A collection of the idle
 * operator's ~20 MiB heap takes a few ms, once.
 *
 * The collector is V8's `gc` function: `globalThis.gc` under `--expose-gc`, otherwise
 * the one a new context gets once the flag is set (it collects the whole heap, not
 * only that context's). That flag holds for the whole process, so this is for the
 * operator only: never in a sandbox host, whose isolated-vm contexts (user code) would
 * then get a `gc` too. The operator runs no user code (its sandboxes are child
 * processes), and the compiler exits when idle anyway.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { performance } from "node:perf_hooks";

type Gc = (options?: { type?: "major" | "minor"; execution?: "sync" | "async" }) => void;

function collector(): Gc {
  const exposed = (globalThis as { gc?: Gc }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as Gc;
}

/** Starts watching for idle periods; returns a function that stops. The timer never keeps the process alive. */
export function collectWhenIdle(options: { windowMs?: number; threshold?: number } = {}): () => void {
  const windowMs = options.windowMs ?? 10_000;
  const threshold = options.threshold ?? 0.01;
  let gc: Gc | undefined;
  let last = performance.eventLoopUtilization();
  let collected = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const idle = performance.eventLoopUtilization(now, last).utilization < threshold;
    last = now;
    if (!idle) {
      collected = false;
      return;
    }
    if (collected) return;
    collected = true;
    gc ??= collector();
    gc({ type: "major", execution: "sync" });
  }, windowMs);
  timer.unref();
  return () => clearInterval(timer);
}
