/**
 * The classes of hostile reconciler code of issue 10, shared by the noisy-neighbour
 * test (engine/noisy-neighbour.test.ts) and benchmark (operator/bench/noisy-neighbour.bench.ts).
 * `body` is a reconcile body (`res`, `ctx` in scope); `reason` is what the hostile
 * resource's Ready condition must say, with the defaults of a 1 s / 32 MiB sandbox.
 */
/** The hostile classes of issue 10, each with the reason its own resource must show. */
export const HOSTILE: ReadonlyArray<{ name: string; body: string; reason: string }> = [
  { name: "log-loop", body: "for (;;) ctx.log.info('flood', { big: 'x'.repeat(1000) });", reason: "Timeout" },
  { name: "event-loop", body: "for (let i = 0; ; i++) ctx.event({ type: 'Warning', reason: 'Flood', message: 'unique ' + i });", reason: "Timeout" },
  { name: "get-loop", body: "for (;;) await ctx.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 'nothing');", reason: "ReconcileError" },
  { name: "sync-loop", body: "for (;;) {}", reason: "Timeout" },
  { name: "never-settles", body: "await new Promise<void>(() => {}); return {};", reason: "Timeout" },
  { name: "heap", body: "const keep: string[][] = []; for (;;) keep.push(new Array(100000).fill('x'));", reason: "MemoryLimit" },
  // isolated-vm counts ArrayBuffers against the isolate's limit: the allocation throws a RangeError in user code.
  { name: "typed-arrays", body: "const keep: Uint8Array[] = []; for (;;) keep.push(new Uint8Array(16 * 1024 * 1024).fill(1));", reason: "ReconcileError" },
  { name: "oversized-result", body: "return { status: { blob: 'x'.repeat(4 * 1024 * 1024 + 1) } };", reason: "InvalidResult" },
];
