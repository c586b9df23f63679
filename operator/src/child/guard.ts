/**
 * The child's side of `SupervisedChild`: answers heartbeat pings, exits when the
 * parent's IPC channel closes, and says `ready`. Call `guardChild(handle)` once at the
 * top of a child module; `handle` gets every other message.
 *
 * The parent's reaper (reaper.ts) kills the child if the parent dies while this
 * process's main thread is too busy to see the `disconnect`.
 */
export function guardChild<Request>(handle: (message: Request) => void): void {
  process.on("message", (message: { t?: unknown; n?: unknown }) => {
    if (message !== null && typeof message === "object" && message.t === "ping") {
      if (process.connected) process.send?.({ t: "pong", n: message.n }, undefined, {}, (error) => void error);
      return;
    }
    handle(message as Request);
  });
  process.on("disconnect", () => process.exit(0));
  process.send?.({ t: "ready", pid: process.pid });
}
