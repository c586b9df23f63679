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
      sendToParent({ t: "pong", n: message.n });
      return;
    }
    handle(message as Request);
  });
  process.on("disconnect", () => process.exit(0));
  sendToParent({ t: "ready", pid: process.pid });
}

/**
 * Sends `message` to the parent if the channel is open. A send that fails because the
 * parent just went away (EPIPE) is dropped: the disconnect handler exits anyway, and
 * without the callback Node would raise it as an uncaught error.
 */
export function sendToParent(message: unknown): void {
  if (process.connected) process.send?.(message, undefined, {}, (error) => void error);
}
